from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Sites and staff"

    def ready(self):
        from . import signals  # noqa: F401  (password age and two-factor state at login)
