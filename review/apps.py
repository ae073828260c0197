from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ReviewConfig(AppConfig):
    """What a monitor or an investigator adds to a clinical record: signatures,
    source data verifications and data queries. Reached from the record kernel by
    one explicit hook (``core.services.after_change_hooks``), never by import from
    the capture apps."""

    name = "review"
    verbose_name = _("Review")

    def ready(self):
        from core import selectors as core_selectors
        from core.services import register_after_change

        from . import selectors, services

        register_after_change(services.after_change)
        core_selectors.register_review_state(selectors.review_state)
