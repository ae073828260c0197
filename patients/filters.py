"""The filters of the patient lists: the patient list page and ``/api/v1/patients/``,
``/api/v1/diagnoses/``, ``/api/v1/malignancies/`` (see ``core.filters``)."""

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.renderers import FieldRenderer
from core.filters import ChoiceFilter, FilterSet, FlagFilter, IdFilter, SiteFilter, TextFilter

from .models import Diagnosis, MalignancyHistory, MalignancyStatus, Patient, PatientStatus

DIAGNOSIS_KINDS = Diagnosis._meta.get_field("kind").choices
#: ``visits.rules.ScheduleStatus`` (patients imports nothing from visits; a test holds them equal).
NEXT_CYCLE_CHOICES = [("overdue", _("Overdue")), ("due", _("In window")),
                      ("not_yet", _("Not yet in window"))]


def voided_filter():
    return FlagFilter(field_name="voided_at", lookup_expr="isnull", exclude=True,
                      help_text=_("true: only voided entries; false: only current ones."))


class PatientFilterSet(FilterSet):
    """``?search=&site=&status=&diagnosis=`` (PM, DM or none recorded)."""

    search = TextFilter(field_name="subject_id", label=_("Subject id"), help_text=_("Part of the subject id."))
    site = SiteFilter(field_name="site", label=_("Site"))
    status = ChoiceFilter(choices=PatientStatus.choices, empty_label=_("Any status"), label=_("Status"))
    diagnosis = ChoiceFilter(choices=[("PM", _("PM")), ("DM", _("DM")), ("none", _("Not recorded"))],
                             empty_label=_("Any diagnosis"), label=_("Diagnosis"), method="filter_diagnosis",
                             help_text=_("PM, DM, or none recorded."))
    schedule = ChoiceFilter(choices=NEXT_CYCLE_CHOICES, empty_label=_("Any"), label=_("Next cycle"),
                            method="filter_schedule",
                            help_text=_("overdue: its window has closed; due: in its window today; "
                                      "not_yet: its window opens later. Most urgent first."))

    class Meta:
        model = Patient
        fields = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.form.renderer = FieldRenderer()  # Jinja2 widgets (core/renderers.py): the site list is long
        for field in self.form.fields.values():  # the page's small Bootstrap controls
            select = isinstance(field.widget, forms.Select)
            field.widget.attrs["class"] = "form-select form-select-sm" if select else "form-control form-control-sm"

    def filter_schedule(self, queryset, name, value):
        return queryset.next_cycle(value, today=timezone.localdate())

    def filter_diagnosis(self, queryset, name, value):
        if value == "none":
            return queryset.filter(diagnosis__isnull=True)
        return queryset.filter(diagnosis__kind=value)


class DiagnosisFilterSet(FilterSet):
    patient = IdFilter(field_name="patient_id", help_text=_("Patient id."))
    site = SiteFilter(field_name="patient__site")
    kind = ChoiceFilter(choices=DIAGNOSIS_KINDS, help_text=_("PM or DM."))

    class Meta:
        model = Diagnosis
        fields = []


class MalignancyFilterSet(FilterSet):
    patient = IdFilter(field_name="patient_id", help_text=_("Patient id."))
    site = SiteFilter(field_name="patient__site")
    status = ChoiceFilter(choices=MalignancyStatus.choices)
    voided = voided_filter()

    class Meta:
        model = MalignancyHistory
        fields = []
