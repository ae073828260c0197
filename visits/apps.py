from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class VisitsConfig(AppConfig):
    name = "visits"
    verbose_name = _("Treatment cycles")

    def ready(self):
        from core import derived
        from patients import services as patient_services

        from . import services

        derived.register("visits", services.derived_recompute)
        # A patient edit (sex, a risk or its date) re-judges the cycles whose facts it changes.
        patient_services.after_save_register(services.patient_cycles_rejudge)
        # ... and its next cycle's schedule follows its status and enrolment date.
        patient_services.before_save_register(services.patient_schedule_apply)
        _register_case_report_forms()


def _register_case_report_forms():
    """The read-only forms of a cycle's records: the cycle page's part forms' fields, in
    their order, then the facts ``visits.services`` stores (``visits.rules``). The
    end-of-treatment visit is an Assessment too (its form has the same fields)."""
    from core import crf

    from . import rules
    from .forms import AssessmentForm, CycleForm, InfusionForm, MissedCycleForm
    from .models import Assessment, Infusion, MissedCycle, TreatmentCycle

    cycle_facts = list(rules.CYCLE_DERIVED_FIELDS)
    # The cycle dose is read from the stored daily dose (a model property): shown after it.
    cycle_facts.insert(cycle_facts.index("prescribed_daily_dose_g") + 1,
                       ("prescribed_cycle_dose_g", _("prescribed cycle dose (g)")))
    crf.register(TreatmentCycle, fields=["number", *CycleForm._meta.fields], derived=cycle_facts)
    crf.register(Assessment, fields=AssessmentForm._meta.fields, derived=["mmt_total"])
    crf.register(Infusion, fields=["day", *InfusionForm._meta.fields], derived=rules.INFUSION_DERIVED_FIELDS)
    crf.register(MissedCycle, fields=MissedCycleForm._meta.fields)
