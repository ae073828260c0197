from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MedicationsConfig(AppConfig):
    name = "medications"
    verbose_name = _("Concomitant medications")

    def ready(self):
        from core import crf, derived
        from patients import services as patient_services

        from . import services
        from .forms import ConcomitantMedicationForm
        from .models import MEDICATION_FACTS, ConcomitantMedication

        derived.register("medications", services.derived_recompute)
        patient_services.facts_refreshed_register(services.patient_medications_refresh)
        crf.register(ConcomitantMedication, fields=ConcomitantMedicationForm._meta.fields,
                     derived=[*MEDICATION_FACTS, "rules_version"])
