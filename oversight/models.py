"""Oversight's own records: the access events of the study-wide audit trail.

The trail itself is read from the django-simple-history tables of the capture
apps, the export log and these access events (see :mod:`oversight.audit`).
Every one of those tables is append-only: no view or admin edits or deletes a
row, and a database trigger refuses UPDATE and DELETE (see
:mod:`oversight.append_only`).
"""

import ipaddress

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

#: Longest user agent kept; the rest is cut (browsers send a few hundred characters).
USER_AGENT_MAX_LENGTH = 255


class AccessKind(models.TextChoices):
    LOGIN = "login", _("Login")
    LOGOUT = "logout", _("Logout")
    LOGIN_FAILED = "login_failed", _("Failed login")
    AUDIT_EXPORT = "audit_export", _("Audit trail export")
    SIGN_FAILED = "sign_failed", _("Failed signing attempt")
    LOCKED_OUT = "locked_out", _("Account locked after failed logins")
    UNLOCKED = "unlocked", _("Account unlocked by an administrator")
    LOGIN_FAILURES_COUNTED = "login_failures", _("Failed logins counted (one address, one time window)")
    ACCESS_REVOKED = "access_revoked", _("Sessions and API tokens ended")
    SUPERUSER_LOGIN = "superuser_login", _("Superuser (break-glass) login")
    TOKEN_CREATED = "token_created", _("API token created")
    TOKEN_REVOKED = "token_revoked", _("API token revoked")
    PASSWORD_CHANGED = "password_changed", _("Password changed")
    TWO_FACTOR_ENABLED = "2fa_enabled", _("Two-factor authenticator set up")
    TWO_FACTOR_REMOVED = "2fa_removed", _("Two-factor authenticator removed")
    TWO_FACTOR_VERIFIED = "2fa_verified", _("Two-factor code accepted")
    TWO_FACTOR_FAILED = "2fa_failed", _("Wrong two-factor code")
    CALENDAR_FEED = "calendar_feed", _("Calendar feed fetched")
    CALENDAR_TOKEN_CREATED = "calendar_created", _("Calendar feed address created")
    CALENDAR_TOKEN_REVOKED = "calendar_revoked", _("Calendar feed address revoked")
    NOTICE_SENT = "notice_sent", _("Notification sent (to whom, what, the delivery result)")
    CASEBOOK_PDF = "casebook_pdf", _("PDF casebook made")
    CASEBOOK_PDF_DOWNLOAD = "casebook_pdf_dl", _("PDF casebook downloaded")
    CLOSEOUT_ARCHIVE = "closeout_archive", _("Close-out archive made")
    CLOSEOUT_DOWNLOAD = "closeout_dl", _("Close-out archive downloaded")
    EXPORT_DOWNLOAD = "export_download", _("Background export downloaded")


def client_ip(request):
    """The client's address, or None.

    ``REMOTE_ADDR`` by default. Behind a reverse proxy that overwrites
    ``X-Forwarded-For`` with the client's address (``deploy/nginx.conf``) and
    is the only way to reach the app, ``TRUST_X_FORWARDED_FOR=1`` takes the
    last address of that header instead (the one the proxy appended)."""
    meta = getattr(request, "META", None) or {}
    value = meta.get("REMOTE_ADDR") or ""
    if settings.TRUST_X_FORWARDED_FOR and meta.get("HTTP_X_FORWARDED_FOR"):
        value = meta["HTTP_X_FORWARDED_FOR"].split(",")[-1]
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


_client_ip = client_ip  # the former private name


class AccessEventManager(models.Manager):
    def record(self, *, kind, request=None, user=None, username="", detail=None, ip_address=None):
        """Write one access event. Never pass a password in ``detail``. The address is the
        request's unless ``ip_address`` is given."""
        if user is not None and not username:
            username = user.get_username()
        meta = getattr(request, "META", None) or {}
        return self.create(
            kind=kind,
            user=user,
            username=(username or "")[:150],
            ip_address=ip_address or client_ip(request),
            user_agent=(meta.get("HTTP_USER_AGENT") or "")[:USER_AGENT_MAX_LENGTH],
            detail=detail or {},
        )


class AccessEvent(models.Model):
    """A login, logout, failed login or audit-trail export.

    Append-only, like the history tables: written by
    :mod:`oversight.signals` and the audit-trail export, never changed.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
        related_name="+", help_text=_("Empty for a failed login with an unknown user name."),
    )
    username = models.CharField(
        max_length=150, blank=True,
        help_text=_("As typed (failed logins) or the user's name when the event was written."),
    )
    at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)
    kind = models.CharField(max_length=20, choices=AccessKind.choices)
    ip_address = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    user_agent = models.CharField(max_length=USER_AGENT_MAX_LENGTH, blank=True)
    detail = models.JSONField(default=dict, blank=True)

    objects = AccessEventManager()

    class Meta:
        ordering = ["-at", "-pk"]
        permissions = [("view_audit_trail", _("Can read and export the study-wide audit trail"))]

    def __str__(self):
        return f"{self.get_kind_display()}: {self.username or '?'} at {self.at:%Y-%m-%d %H:%M}"


class FailedLoginCount(models.Model):
    """How many anonymous failed logins came from one address in one time window.

    Not an audit table: a working counter, updated in place and deleted once
    its total is written to the trail. A flood of failed logins from one
    address costs the append-only trail the first
    ``LOGIN_FAILURE_AUDIT_ROWS`` access events of each window
    (``LOGIN_FAILURE_AUDIT_WINDOW_MINUTES``) plus one access event
    "Failed logins counted" with the window's total and the user names tried,
    written when the window is over (see :func:`oversight.services.login_failure_record`).
    """

    #: At most this many distinct user names are kept per window (the count has them all).
    USERNAMES_KEPT = 20

    ip_address = models.CharField(max_length=45, blank=True, help_text=_("Empty: unknown address."))
    window_start = models.DateTimeField()
    count = models.PositiveIntegerField(default=0)
    usernames = models.JSONField(default=list, blank=True)
    last_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["ip_address", "window_start"],
                                               name="failed_login_count_unique")]
        indexes = [models.Index(fields=["window_start"], name="failed_login_count_window")]

    def __str__(self):
        return f"{self.count} failed logins from {self.ip_address or '?'} from {self.window_start:%H:%M}"
