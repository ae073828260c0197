"""Oversight writes: locks, failed signing attempts and failed logins. Each is one
transaction and leaves history rows (who, when, why). Signatures, source data
verification and data queries are written by ``review.services``."""

from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from core.services import record_save
from core.validation import validate_free_text

from .models import AccessEvent, AccessKind, FailedLoginCount, client_ip


# --- Locks -------------------------------------------------------------------

def _require_admin(user):
    """Locking and unlocking are the administrator role's acts, whatever the channel."""
    from accounts.roles import Role
    from accounts.scoping import access_for

    if not access_for(user).has_role(Role.ADMIN):
        raise PermissionDenied("Only an administrator locks and unlocks.")


@transaction.atomic
def record_lock(*, record, user, reason=""):
    """Lock a cycle or a casebook: every later write under it is refused."""
    _require_admin(user)
    validate_free_text(reason, field="reason")
    record = type(record).objects.select_for_update().get(pk=record.pk)
    if record.locked_at:
        raise ValidationError(_("Already locked."), code="already_locked")
    record.locked_at, record.locked_by, record.lock_reason = timezone.now(), user, reason.strip()
    record._lock_operation = True
    return record_save(instance=record, reason=f"Locked{': ' + reason.strip() if reason.strip() else ''}", user=user)


@transaction.atomic
def record_unlock(*, record, user, reason):
    """Unlock with a reason, which the history keeps."""
    _require_admin(user)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": ValidationError(_("Give the reason for unlocking."), code="required")})
    validate_free_text(reason, field="reason")
    record = type(record).objects.select_for_update().get(pk=record.pk)
    if not record.locked_at:
        raise ValidationError(_("Not locked."), code="not_locked")
    record.locked_at, record.locked_by, record.lock_reason = None, None, ""
    record._lock_operation = True
    return record_save(instance=record, reason=f"Unlocked: {reason}", user=user)


# --- Failed signing attempts (the signature itself: review.services.record_sign) ----

def log_failed_signing(request, what):
    """21 CFR 11.300(d): a failed signing attempt is an access event."""
    AccessEvent.objects.record(kind=AccessKind.SIGN_FAILED, request=request, user=request.user,
                               detail={"record": what})


# --- Failed logins in the audit trail: a count per address and window ------------------

def _window_start(now, minutes):
    seconds = minutes * 60
    return datetime.fromtimestamp(now.timestamp() // seconds * seconds, tz=dt_timezone.utc)


def login_failure_record(*, request, username, user, kind=AccessKind.LOGIN_FAILED):
    """The access event(s) of one failed login.

    A signed-in user's failure (a wrong e-signature password) is always one
    access event. An anonymous failure is counted per client address and
    time window (``LOGIN_FAILURE_AUDIT_WINDOW_MINUTES``, 0: no counting): the
    first ``LOGIN_FAILURE_AUDIT_ROWS`` of a window are access events as they
    come, the rest only raise the counter (:class:`~oversight.models.FailedLoginCount`),
    whose total becomes one access event when the window is over
    (:func:`failed_login_counts_write`). So a script cannot flood the
    append-only trail, and the trail still shows how many attempts there were.
    """
    minutes = settings.LOGIN_FAILURE_AUDIT_WINDOW_MINUTES
    signed_in = getattr(getattr(request, "user", None), "is_authenticated", False)
    if request is None or signed_in or minutes <= 0:
        AccessEvent.objects.record(kind=kind, request=request, user=user, username=username)
        return
    now = timezone.now()
    key = {"ip_address": client_ip(request) or "", "window_start": _window_start(now, minutes)}
    with transaction.atomic():
        counter = FailedLoginCount.objects.select_for_update().filter(**key).first()
        if counter is None:
            try:
                with transaction.atomic():
                    counter = FailedLoginCount.objects.create(**key, last_at=now)
            except IntegrityError:  # a concurrent failure created it
                counter = FailedLoginCount.objects.select_for_update().get(**key)
        counter.count = F("count") + 1
        counter.last_at = now
        if username and username not in counter.usernames \
                and len(counter.usernames) < FailedLoginCount.USERNAMES_KEPT:
            counter.usernames = [*counter.usernames, username]
        counter.save(update_fields=["count", "last_at", "usernames"])
        counter.refresh_from_db(fields=["count"])
    if counter.count <= settings.LOGIN_FAILURE_AUDIT_ROWS:
        AccessEvent.objects.record(kind=kind, request=request, user=user, username=username,
                                   detail={"in_window": counter.count})
    failed_login_counts_write(now=now)


def failed_login_counts_write(*, now=None, limit=100):
    """Write the total of each counting window that is over as one access event
    (when some of its failures were only counted) and drop its counter.
    Runs after each anonymous failed login and each login, and from
    ``manage.py write_failed_login_counts`` (cron). Returns the events written."""
    now = now or timezone.now()
    minutes = max(settings.LOGIN_FAILURE_AUDIT_WINDOW_MINUTES, 1)
    over = FailedLoginCount.objects.filter(window_start__lte=now - timedelta(minutes=minutes))
    written = 0
    for pk in over.order_by("window_start").values_list("pk", flat=True)[:limit]:
        with transaction.atomic():
            counter = FailedLoginCount.objects.select_for_update().filter(pk=pk).first()
            if counter is None:  # written by a concurrent request
                continue
            counter.delete()
            if counter.count <= settings.LOGIN_FAILURE_AUDIT_ROWS:
                continue  # every failure of the window is an access event already
            end = counter.window_start + timedelta(minutes=minutes)
            AccessEvent.objects.record(
                kind=AccessKind.LOGIN_FAILURES_COUNTED, ip_address=counter.ip_address or None,
                detail={"failed_logins": counter.count,
                        "recorded_one_by_one": settings.LOGIN_FAILURE_AUDIT_ROWS,
                        "from": counter.window_start.isoformat(), "to": end.isoformat(),
                        "last_at": counter.last_at.isoformat(),
                        "user_names_tried": counter.usernames,
                        "more_user_names": len(counter.usernames) >= FailedLoginCount.USERNAMES_KEPT})
            written += 1
    return written
