"""The filters of ``/api/v1/medications/`` (see ``core.filters``)."""

from django.utils.translation import gettext_lazy as _

from core.filters import FilterSet, FlagFilter, IdFilter, SiteFilter
from patients.filters import voided_filter

from .models import ConcomitantMedication


class MedicationFilterSet(FilterSet):
    patient = IdFilter(field_name="patient_id", help_text=_("Patient id."))
    site = SiteFilter(field_name="patient__site")
    corticosteroid = FlagFilter(field_name="is_corticosteroid", help_text=_("Derived: systemic corticosteroids."))
    immunosuppressant = FlagFilter(field_name="is_immunosuppressant", help_text=_("Derived: immunosuppressants."))
    started_during_study = FlagFilter(field_name="started_during_study",
                                      help_text=_("Derived: started on or after the first infusion."))
    voided = voided_filter()

    class Meta:
        model = ConcomitantMedication
        fields = []
