from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CodingConfig(AppConfig):
    """The medical dictionaries adverse events are coded with: the CTCAE v5.0 terms
    (public, shipped in ``coding/data``) and, where a site holds a licence, a MedDRA
    release loaded from its ASCII files. Sits low: imports ``core`` only."""

    name = "coding"
    verbose_name = _("Medical coding")
    default_auto_field = "django.db.models.BigAutoField"
