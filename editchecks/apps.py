from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class EditChecksConfig(AppConfig):
    """Automatic edit checks (issue 17): conditions written as code (``checks.py``) that raise
    data queries on the records that fail them and close them when the data are corrected.
    Sits on top, like ``oversight``: it reads the capture apps and writes through
    ``review.services``; the kernel reaches it by one explicit hook
    (``core.services.after_change_hooks``), and nothing below imports it."""

    name = "editchecks"
    verbose_name = _("Edit checks")

    def ready(self):
        from core.services import register_after_change

        from . import services

        register_after_change(services.after_change)
