from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OversightConfig(AppConfig):
    """Monitoring and audit: the study-wide audit trail, adverse-event review,
    e-signatures, locks, data queries, source data verification and the role
    dashboards. Signatures, verifications and queries are written by ``review``."""

    name = "oversight"
    verbose_name = _("Oversight")

    def ready(self):
        from . import signals  # noqa: F401  (login, logout and failed-login events)
        from .casebook_jobs import register_kinds

        register_kinds()  # PDF casebooks and the close-out archive (jobs.files kinds)
