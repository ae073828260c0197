from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DemoConfig(AppConfig):
    """The demo study (sites, one user per role, an 11-patient cohort shaped like
    the reference publication). Depends on every capture app; nothing depends on it."""

    name = "demo"
    verbose_name = _("Demo study")
