from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    """Shared plumbing for the capture apps: the clinical-record base model,
    reason-for-change forms, optimistic concurrency and the change log.
    It holds no clinical model and no clinical rule."""

    name = "core"
    verbose_name = _("Core")

    def ready(self):
        from . import checks  # noqa: F401 (registers the deployment checks)
