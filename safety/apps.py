from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SafetyConfig(AppConfig):
    name = "safety"
    verbose_name = _("Safety")

    def ready(self):
        from core import derived

        from . import services

        derived.register("safety", services.derived_recompute)
        _register_case_report_forms()


def _register_case_report_forms():
    """The read-only forms of an adverse event and its follow-ups: the edit forms' fields,
    in their order, then what ``safety.services`` stores (the SAE clock, the review)."""
    from core import crf

    from .forms import AdverseEventForm
    from .models import AdverseEvent, AdverseEventFollowUp

    # The coded term shows as its stored facts (what the event was coded with), not as the
    # dictionary row (a later load may have changed it; and no query per event).
    from .rules import CODED_FIELDS

    crf.register(AdverseEvent, fields=[name for name in AdverseEventForm._meta.fields if name != "coded_term"],
                 derived=[*CODED_FIELDS, "sae_entered_at", "report_due_at", "reported_late", "reviewed_at", "reviewed_by",
                          "rules_version"])
    # Entered on the AE review page (oversight.forms_ae.FollowUpForm: its fields, in its order).
    crf.register(AdverseEventFollowUp, fields=["follow_up_date", "note", "outcome", "end_date"],
                 derived=["entered_by"])
