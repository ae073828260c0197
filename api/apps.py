from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ApiConfig(AppConfig):
    """The REST API (``/api/v1/``): serializers and viewsets over the capture
    apps' models, with the same rules (``Model.full_clean``), the same writes
    (``core.services.record_save``, ``visits.services.cycle_save``) and the
    same scoping and permissions as the pages."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "api"
    verbose_name = _("REST API")
