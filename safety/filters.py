"""The filters of the adverse-event lists: the AE list page and ``/api/v1/adverse-events/``
(see ``core.filters``)."""

from core.filters import ChoiceFilter, FilterSet, FlagFilter, IdFilter, SiteFilter
from patients.filters import voided_filter

from . import rules
from .models import AdverseEvent


class AdverseEventFilterSet(FilterSet):
    """``?site=&grade=&serious=1&review=1&patient=`` (``review=1``: serious events awaiting review)."""

    site = SiteFilter(field_name="patient__site")
    grade = ChoiceFilter(choices=sorted(rules.CTCAE_GRADES.items()), empty_label="Any grade",
                         help_text="CTCAE grade.")
    serious = FlagFilter(field_name="serious", help_text="true: serious events only; false: non-serious ones.")
    review = FlagFilter(method="filter_review", help_text="true: serious events awaiting medical review.")
    patient = IdFilter(field_name="patient_id", help_text="Patient id.")
    voided = voided_filter()

    class Meta:
        model = AdverseEvent
        fields = []

    def filter_review(self, queryset, name, value):
        return queryset.awaiting_review() if value else queryset
