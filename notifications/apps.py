from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class NotificationsConfig(AppConfig):
    """Notices in the app and by e-mail: serious adverse events at once, their
    escalations, data queries, a daily digest. Reached from the writes by explicit
    hooks (``core.services.after_change_hooks`` for adverse events,
    ``review.services.query_hooks`` for data queries): neither safety nor review
    imports this app."""

    name = "notifications"
    verbose_name = _("Notifications")

    def ready(self):
        from core.services import register_after_change
        from review.services import register_query_hook

        from . import hooks

        register_after_change(hooks.after_change)
        register_query_hook(hooks.after_query)
