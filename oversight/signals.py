"""Audit rows written on Django's signals: access events and the append-only guard.

No domain logic here: the receivers only write audit rows (logins, logouts,
failed logins, counted per address and window by ``oversight.services``) and keep the database guard of the audit tables in place after
``migrate``.

A failed login keeps the user name as typed, never the password (Django
masks it in ``credentials``; this module does not read it at all).
"""

from axes.signals import user_locked_out
from django.contrib.auth import get_user_model, user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import post_migrate
from django.dispatch import receiver

from .models import AccessEvent, AccessKind
from .services import failed_login_counts_write, login_failure_record


@receiver(user_logged_in, dispatch_uid="oversight_access_login")
def record_login(sender, request=None, user=None, **kwargs):
    """A superuser's login is an event of its own kind: the break-glass account
    is used rarely, and each use stands out in the audit trail."""
    kind = AccessKind.SUPERUSER_LOGIN if getattr(user, "is_superuser", False) else AccessKind.LOGIN
    AccessEvent.objects.record(kind=kind, request=request, user=user)
    failed_login_counts_write()


@receiver(user_logged_out, dispatch_uid="oversight_access_logout")
def record_logout(sender, request=None, user=None, **kwargs):
    if user is None:  # logging out without a session: nothing happened
        return
    AccessEvent.objects.record(kind=AccessKind.LOGOUT, request=request, user=user)


@receiver(user_login_failed, dispatch_uid="oversight_access_login_failed")
def record_login_failed(sender, credentials=None, request=None, **kwargs):
    User = get_user_model()
    username = str((credentials or {}).get(User.USERNAME_FIELD) or "")[:150]
    user = User._default_manager.filter(**{User.USERNAME_FIELD: username}).first() if username else None
    # accounts.two_factor sends this signal for a wrong one-time code (django-axes counts it).
    kind = AccessKind.TWO_FACTOR_FAILED if (credentials or {}).get("second_factor") else AccessKind.LOGIN_FAILED
    login_failure_record(request=request, username=username, user=user, kind=kind)


@receiver(user_locked_out, dispatch_uid="oversight_access_locked_out")
def record_locked_out(sender, request=None, username=None, ip_address=None, lockout_state=None, **kwargs):
    """Sent once as a lock begins (accounts.lockout). A user name that is no account
    is not recorded here: its failures are in the trail already, counted."""
    User = get_user_model()
    username = str(username or "")[:150]
    user = User._default_manager.filter(**{User.USERNAME_FIELD: username}).first() if username else None
    if user is None:
        return
    detail = {}
    if lockout_state is not None:
        detail = {"lock": "from every address" if lockout_state.scope == "account" else "from this address",
                  "until": lockout_state.until.isoformat() if lockout_state.until else "unlocked by an administrator",
                  "failures_from_this_address": lockout_state.address_failures,
                  "failures_from_every_address": lockout_state.account_failures}
    AccessEvent.objects.record(kind=AccessKind.LOCKED_OUT, request=request, user=user,
                               username=username, detail=detail)


@receiver(post_migrate, dispatch_uid="oversight_append_only_guard")
def keep_audit_tables_append_only(sender, app_config=None, using="default", apps=None, **kwargs):
    """After ``migrate`` (once, for this app), put the guard on any audit table
    that lacks it: a history table created by a later migration, or one that
    SQLite rebuilt (a rebuilt table loses its triggers). Does nothing until
    the migration that installs the guard is applied."""
    if app_config is None or app_config.label != "oversight" or apps is None:
        return
    from django.db import connections

    from . import append_only

    append_only.ensure_protected(connections[using], apps)
