from django.apps import AppConfig


class VisitsConfig(AppConfig):
    name = "visits"
    verbose_name = "Treatment cycles"

    def ready(self):
        from core import derived
        from patients import services as patient_services

        from . import services

        derived.register("visits", services.derived_recompute)
        # A patient edit (sex, a risk or its date) re-judges the cycles whose facts it changes.
        patient_services.after_save_register(services.patient_cycles_rejudge)
        # ... and its next cycle's schedule follows its status and enrolment date.
        patient_services.before_save_register(services.patient_schedule_apply)
