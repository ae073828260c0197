"""The filters of the adverse-event lists: the AE list page, the AE listing (and its CSV)
and ``/api/v1/adverse-events/`` (see ``core.filters``)."""

from django import forms
from django.utils.translation import gettext_lazy as _

from core.filters import ChoiceFilter, FilterSet, FlagFilter, IdFilter, SiteFilter
from patients.filters import voided_filter

from . import rules
from .models import AdverseEvent, Outcome, Relatedness

SERIOUS_CHOICES = [("", _("Serious or not")), ("1", _("Serious")), ("0", _("Not serious"))]


class AdverseEventFilterSet(FilterSet):
    """``?site=&grade=&serious=1&relatedness=&outcome=&review=1&coded=0&patient=&voided=``
    (``review=1``: serious events awaiting medical review; ``coded=0``: events to code)."""

    grade = ChoiceFilter(choices=sorted(rules.CTCAE_GRADES.items()), empty_label=_("Any grade"),
                         label=_("CTCAE grade"))
    serious = FlagFilter(field_name="serious", label=_("Seriousness"), widget=forms.Select(choices=SERIOUS_CHOICES),
                         help_text=_("true: serious events only; false: non-serious ones."))
    relatedness = ChoiceFilter(choices=Relatedness.choices, empty_label=_("Any relatedness"),
                               label=_("Relatedness (investigator)"))
    outcome = ChoiceFilter(choices=Outcome.choices, empty_label=_("Any outcome"), label=_("Outcome"))
    site = SiteFilter(field_name="patient__site", label=_("Site"))
    review = FlagFilter(method="filter_review", help_text=_("true: serious events awaiting medical review."))
    coded = FlagFilter(method="filter_coded",
                       help_text=_("false: events not yet coded with a dictionary term (the coding worklist)."))
    patient = IdFilter(field_name="patient_id", help_text=_("Patient id."))
    voided = voided_filter()

    class Meta:
        model = AdverseEvent
        fields = []

    def filter_review(self, queryset, name, value):
        return queryset.awaiting_review() if value else queryset

    def filter_coded(self, queryset, name, value):
        return queryset.exclude(meddra_llt_code="") if value else queryset.filter(meddra_llt_code="")


class AdverseEventListingFilterSet(AdverseEventFilterSet):
    """The AE listing's filters (the page renders them as its form)."""

    LISTED = ("grade", "serious", "relatedness", "outcome", "site")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.filters = {name: f for name, f in self.filters.items() if name in self.LISTED}
        for field in self.form.fields.values():
            field.widget.attrs["class"] = "form-select form-select-sm"
