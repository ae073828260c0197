from django.apps import AppConfig


class PatientsConfig(AppConfig):
    name = "patients"
    verbose_name = "Patients"

    def ready(self):
        from core import derived

        from . import services

        derived.register("patients", services.derived_recompute)
