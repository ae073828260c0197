from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = _("Sites and staff")

    def ready(self):
        from . import signals  # noqa: F401  (password age and two-factor state at login)
        # The login receivers of the middleware module (the idle clock, the login address and
        # the user's language in the session): connected at start-up, not at the first request.
        from . import middleware  # noqa: F401
