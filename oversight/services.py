"""Oversight writes: locks, e-signatures, source data verification and data
queries. Each is one transaction and leaves history rows (who, when, why)."""

from django.contrib.auth import authenticate
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from core.models import (ALTERED_OUTSIDE_REASON, DataQuery, DataQueryMessage, QueryMessageKind, QueryStatus,
                         Signature, SignatureMeaning, SourceVerification)
from core.review import hash_of, invalidate
from core.services import record_save


def _patient_of(record):
    """The patient whose casebook holds the record (the outermost review parent)."""
    return record.review_parents()[-1]


# --- Locks -------------------------------------------------------------------

@transaction.atomic
def record_lock(*, record, user, reason=""):
    """Lock a cycle or a casebook: every later write under it is refused."""
    record = type(record).objects.select_for_update().get(pk=record.pk)
    if record.locked_at:
        raise ValidationError("Already locked.", code="already_locked")
    record.locked_at, record.locked_by, record.lock_reason = timezone.now(), user, reason.strip()
    record._lock_operation = True
    return record_save(instance=record, reason=f"Locked{': ' + reason.strip() if reason.strip() else ''}", user=user)


@transaction.atomic
def record_unlock(*, record, user, reason):
    """Unlock with a reason, which the history keeps."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": ValidationError("Give the reason for unlocking.", code="required")})
    record = type(record).objects.select_for_update().get(pk=record.pk)
    if not record.locked_at:
        raise ValidationError("Not locked.", code="not_locked")
    record.locked_at, record.locked_by, record.lock_reason = None, None, ""
    record._lock_operation = True
    return record_save(instance=record, reason=f"Unlocked: {reason}", user=user)


# --- E-signatures ------------------------------------------------------------

class SigningRefused(Exception):
    """Wrong password: nothing signed; the attempt is logged by the caller."""


@transaction.atomic
def record_sign(*, record, user, password, request=None, meaning=SignatureMeaning.REVIEWED):
    """Sign a cycle or a casebook after re-authentication (21 CFR 11.200: the
    password is asked again at each signing). Returns the Signature."""
    if not user.has_perm("core.sign_record"):
        raise PermissionDenied("Only investigators sign.")
    if authenticate(request, username=user.get_username(), password=password) is None:
        raise SigningRefused("The password is not correct: nothing was signed.")
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

def _message(query, kind, user, text):
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
    question = (question or "").strip()
    if not question:
        raise ValidationError({"question": ValidationError("Write the question.", code="required")})
    query = DataQuery(content_type=ContentType.objects.get_for_model(record), object_id=record.pk,
                      patient=_patient_of(record),
                      cycle_number=cycle_number, field_name=field_name, field_label=field_label,
                      record_label=record_label, raised_by=user)
    query._history_user = user
    query.save()
    _message(query, QueryMessageKind.QUESTION, user, question)
    return query


@transaction.atomic
def query_answer(*, query, user, text):
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
    if query.status == QueryStatus.CLOSED:
        raise ValidationError("The query is already closed.", code="already_closed")
    _message(query, QueryMessageKind.CLOSE, user, text or "Closed.")
    _set_status(query, QueryStatus.CLOSED, user, "Closed")
    return query


@transaction.atomic
def query_reopen(*, query, user, text):
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
    from .models import AccessEvent, AccessKind

    AccessEvent.objects.record(kind=AccessKind.SIGN_FAILED, request=request, user=request.user,
                               detail={"record": what})
