"""The filters of the patient lists: the patient list page and ``/api/v1/patients/``,
``/api/v1/diagnoses/``, ``/api/v1/malignancies/`` (see ``core.filters``)."""

from django import forms

from core.renderers import FieldRenderer
from core.filters import ChoiceFilter, FilterSet, FlagFilter, IdFilter, SiteFilter, TextFilter

from .models import Diagnosis, MalignancyHistory, MalignancyStatus, Patient, PatientStatus

DIAGNOSIS_KINDS = Diagnosis._meta.get_field("kind").choices


def voided_filter():
    return FlagFilter(field_name="voided_at", lookup_expr="isnull", exclude=True,
                      help_text="true: only voided entries; false: only current ones.")


class PatientFilterSet(FilterSet):
    """``?search=&site=&status=&diagnosis=`` (PM, DM or none recorded)."""

    search = TextFilter(field_name="subject_id", label="Subject id", help_text="Part of the subject id.")
    site = SiteFilter(field_name="site", label="Site")
    status = ChoiceFilter(choices=PatientStatus.choices, empty_label="Any status", label="Status")
    diagnosis = ChoiceFilter(choices=[("PM", "PM"), ("DM", "DM"), ("none", "Not recorded")],
                             empty_label="Any diagnosis", label="Diagnosis", method="filter_diagnosis",
                             help_text="PM, DM, or none recorded.")

    class Meta:
        model = Patient
        fields = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.form.renderer = FieldRenderer()  # Jinja2 widgets (core/renderers.py): the site list is long
        for field in self.form.fields.values():  # the page's small Bootstrap controls
            select = isinstance(field.widget, forms.Select)
            field.widget.attrs["class"] = "form-select form-select-sm" if select else "form-control form-control-sm"

    def filter_diagnosis(self, queryset, name, value):
        if value == "none":
            return queryset.filter(diagnosis__isnull=True)
        return queryset.filter(diagnosis__kind=value)


class DiagnosisFilterSet(FilterSet):
    patient = IdFilter(field_name="patient_id", help_text="Patient id.")
    site = SiteFilter(field_name="patient__site")
    kind = ChoiceFilter(choices=DIAGNOSIS_KINDS, help_text="PM or DM.")

    class Meta:
        model = Diagnosis
        fields = []


class MalignancyFilterSet(FilterSet):
    patient = IdFilter(field_name="patient_id", help_text="Patient id.")
    site = SiteFilter(field_name="patient__site")
    status = ChoiceFilter(choices=MalignancyStatus.choices)
    voided = voided_filter()

    class Meta:
        model = MalignancyHistory
        fields = []
