"""Oversight writes: locks, e-signatures, source data verification and data
queries. Each is one transaction and leaves history rows (who, when, why)."""

from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from accounts.scoping import require
from accounts.services import password_recheck
from core.models import (ALTERED_OUTSIDE_REASON, DataQuery, DataQueryMessage, QueryMessageKind, QueryStatus,
                         Signature, SignatureMeaning, SourceVerification)
from core.review import hash_of, invalidate
from core.services import record_save
from core.validation import validate_free_text

from .models import AccessEvent, AccessKind, FailedLoginCount, client_ip


def _patient_of(record):
    """The patient whose casebook holds the record (the outermost review parent)."""
    return record.review_parents()[-1]


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
        raise ValidationError("Already locked.", code="already_locked")
    record.locked_at, record.locked_by, record.lock_reason = timezone.now(), user, reason.strip()
    record._lock_operation = True
    return record_save(instance=record, reason=f"Locked{': ' + reason.strip() if reason.strip() else ''}", user=user)


@transaction.atomic
def record_unlock(*, record, user, reason):
    """Unlock with a reason, which the history keeps."""
    _require_admin(user)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": ValidationError("Give the reason for unlocking.", code="required")})
    validate_free_text(reason, field="reason")
    record = type(record).objects.select_for_update().get(pk=record.pk)
    if not record.locked_at:
        raise ValidationError("Not locked.", code="not_locked")
    record.locked_at, record.locked_by, record.lock_reason = None, None, ""
    record._lock_operation = True
    return record_save(instance=record, reason=f"Unlocked: {reason}", user=user)


# --- E-signatures ------------------------------------------------------------

class SigningRefused(Exception):
    """Wrong password: nothing signed; the attempt is logged by the caller."""


def record_sign(*, record, user, password, request, meaning=SignatureMeaning.REVIEWED):
    """Sign a cycle or a casebook after re-authentication (21 CFR 11.200: the
    password is asked again at each signing). Returns the Signature.

    The password check is not inside the signature's transaction: a wrong
    password must stay recorded as a failed login (and lock the account at the
    limit) although nothing is signed. Do not call this inside a transaction
    (:func:`accounts.services.password_recheck` refuses)."""
    require(user, "core.sign_record", site_id=_patient_of(record).site_id,
            message="Only an investigator of the patient's site signs its cycles and casebook.")
    if not password_recheck(request=request, user=user, password=password):
        raise SigningRefused("The password is not correct: nothing was signed.")
    return _signature_write(record=record, user=user, meaning=meaning)


@transaction.atomic
def _signature_write(*, record, user, meaning):
    record = type(record).objects.get(pk=record.pk)
    signature = Signature(
        content_type=ContentType.objects.get_for_model(record), object_id=record.pk,
        patient=_patient_of(record), data_hash=hash_of(record), signer=user,
        signer_name=user.get_full_name() or user.get_username(), meaning=meaning,
    )
    signature._history_user = user
    signature.save()
    return signature


# --- Source data verification ------------------------------------------------

@transaction.atomic
def cycle_verify(*, cycle, user):
    """Mark a cycle's data verified against the source documents. A verification
    whose data no longer match (changed outside the application) is invalidated
    first, with that reason, and the cycle can be verified again."""
    require(user, "core.verify_source", site_id=cycle.patient.site_id,
            message="Only a monitor verifies source data.")
    cycle = type(cycle).objects.get(pk=cycle.pk)
    current = hash_of(cycle)
    existing = SourceVerification.objects.filter(
        content_type=ContentType.objects.get_for_model(cycle), object_id=cycle.pk).not_invalidated()
    for row in existing:
        if row.data_hash == current:
            raise ValidationError("This cycle is already verified.", code="already_verified")
        invalidate(row, ALTERED_OUTSIDE_REASON, user)
    verification = SourceVerification(
        content_type=ContentType.objects.get_for_model(cycle), object_id=cycle.pk, patient=cycle.patient,
        data_hash=current, verified_by=user)
    verification._history_user = user
    verification.save()
    return verification


# --- Data queries ------------------------------------------------------------

def _message(query, kind, user, text, field="text"):
    validate_free_text(text, field=field)
    message = DataQueryMessage(query=query, kind=kind, author=user, text=text.strip())
    message._history_user = user
    message.save()
    return message


def _set_status(query, status, user, reason):
    query.status = status
    query._history_user = user
    query._change_reason = reason
    query.save()


@transaction.atomic
def query_raise(*, record, field_name, field_label, record_label, question, user, cycle_number=None):
    require(user, "core.raise_query", site_id=_patient_of(record).site_id,
            message="Only a monitor raises data queries.")
    question = (question or "").strip()
    if not question:
        raise ValidationError({"question": ValidationError("Write the question.", code="required")})
    query = DataQuery(content_type=ContentType.objects.get_for_model(record), object_id=record.pk,
                      patient=_patient_of(record),
                      cycle_number=cycle_number, field_name=field_name, field_label=field_label,
                      record_label=record_label, raised_by=user)
    query._history_user = user
    query.save()
    _message(query, QueryMessageKind.QUESTION, user, question, field="question")
    return query


@transaction.atomic
def query_answer(*, query, user, text):
    require(user, "core.answer_query", site_id=query.patient.site_id,
            message="Only the staff of the patient's site answer its data queries.")
    text = (text or "").strip()
    if not text:
        raise ValidationError({"text": ValidationError("Write the answer.", code="required")})
    if query.status != QueryStatus.OPEN:
        raise ValidationError("Only an open query can be answered.", code="not_open")
    _message(query, QueryMessageKind.ANSWER, user, text)
    _set_status(query, QueryStatus.ANSWERED, user, "Answered")
    return query


@transaction.atomic
def query_close(*, query, user, text=""):
    require(user, "core.raise_query", site_id=query.patient.site_id,
            message="Only a monitor closes data queries.")
    if query.status == QueryStatus.CLOSED:
        raise ValidationError("The query is already closed.", code="already_closed")
    _message(query, QueryMessageKind.CLOSE, user, text or "Closed.")
    _set_status(query, QueryStatus.CLOSED, user, "Closed")
    return query


@transaction.atomic
def query_reopen(*, query, user, text):
    require(user, "core.raise_query", site_id=query.patient.site_id,
            message="Only a monitor re-opens data queries.")
    text = (text or "").strip()
    if not text:
        raise ValidationError({"text": ValidationError("Say why the query is re-opened.", code="required")})
    if query.status == QueryStatus.OPEN:
        raise ValidationError("The query is already open.", code="already_open")
    _message(query, QueryMessageKind.REOPEN, user, text)
    _set_status(query, QueryStatus.OPEN, user, "Re-opened")
    return query


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
