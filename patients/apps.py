from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PatientsConfig(AppConfig):
    name = "patients"
    verbose_name = _("Patients")

    def ready(self):
        from core import derived

        from . import services

        derived.register("patients", services.derived_recompute)
        _register_case_report_forms()


def _register_case_report_forms():
    """The read-only forms of the patient's records: the edit forms' fields, in their order,
    then the facts ``patients.services`` stores."""
    from core import crf

    from .forms import DiagnosisForm, MalignancyForm, PatientForm, WithdrawForm
    from .models import DIAGNOSIS_FACTS, MALIGNANCY_FACTS, PATIENT_FACTS, Diagnosis, MalignancyHistory, Patient

    # The withdrawal is entered on its own form (its model fields, in that form's order).
    withdrawal = [name for name in WithdrawForm.base_fields if name in ("withdrawal_date", "withdrawal_reason")]
    crf.register(Patient, fields=[*PatientForm._meta.fields, *withdrawal], derived=PATIENT_FACTS)
    crf.register(Diagnosis, fields=DiagnosisForm._meta.fields, derived=DIAGNOSIS_FACTS)
    crf.register(MalignancyHistory, fields=MalignancyForm._meta.fields, derived=MALIGNANCY_FACTS)
