"""The filters of the visit lists: the deviation log page and ``/api/v1/deviations/``,
``/api/v1/cycles/``, ``/api/v1/assessments/``, ``/api/v1/infusions/`` (see ``core.filters``)."""

from django.utils.translation import gettext_lazy as _

from core.filters import ChoiceFilter, FilterSet, FlagFilter, IdFilter, SiteFilter
from patients.filters import voided_filter

from .models import (Assessment, AssessmentTimepoint, DeviationKind, Infusion, InfusionDay, MissedCycle,
                     ProtocolDeviation, TreatmentCycle)
from .rules import MissedCycleReason


class DeviationFilterSet(FilterSet):
    """``?site=&kind=&open=&patient=&cycle=`` of the deviation log (``open=1``: open only)."""

    site = SiteFilter(field_name="patient__site")
    kind = ChoiceFilter(choices=DeviationKind.choices, empty_label=_("Any kind"))
    open = FlagFilter(method="filter_open", help_text=_("true: open; false: resolved."))
    patient = IdFilter(field_name="patient_id", help_text=_("Patient id."))
    cycle = IdFilter(field_name="cycle_id", help_text=_("Cycle id."))

    class Meta:
        model = ProtocolDeviation
        fields = []

    def filter_open(self, queryset, name, value):
        return queryset.open() if value else queryset.filter(resolved_at__isnull=False)


class CycleFilterSet(FilterSet):
    patient = IdFilter(field_name="patient_id", help_text=_("Patient id."))
    site = SiteFilter(field_name="patient__site")
    number = IdFilter(field_name="number", max_value=32767, help_text=_("Cycle number."))

    class Meta:
        model = TreatmentCycle
        fields = []


class AssessmentFilterSet(FilterSet):
    patient = IdFilter(field_name="patient_id", help_text=_("Patient id."))
    site = SiteFilter(field_name="patient__site")
    cycle = IdFilter(field_name="cycle_id", help_text=_("Cycle id."))
    timepoint = ChoiceFilter(choices=AssessmentTimepoint.choices)
    voided = voided_filter()

    class Meta:
        model = Assessment
        fields = []


class InfusionFilterSet(FilterSet):
    patient = IdFilter(field_name="cycle__patient_id", help_text=_("Patient id."))
    site = SiteFilter(field_name="cycle__patient__site")
    cycle = IdFilter(field_name="cycle_id", help_text=_("Cycle id."))
    day = ChoiceFilter(choices=InfusionDay.choices)

    class Meta:
        model = Infusion
        fields = []


class MissedCycleFilterSet(FilterSet):
    patient = IdFilter(field_name="patient_id", help_text=_("Patient id."))
    site = SiteFilter(field_name="patient__site")
    reason = ChoiceFilter(choices=MissedCycleReason.choices)
    voided = voided_filter()

    class Meta:
        model = MissedCycle
        fields = []
