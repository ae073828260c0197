"""Review writes: signatures, source data verifications, data queries, and the
invalidation of a signature or a verification that a change made untrue.

Each write is one transaction and leaves history rows (who, when, why). The
record kernel reaches this module through ONE hook: :func:`after_change`,
registered in ``core.services.after_change_hooks`` by ``ReviewConfig.ready``;
``record_save`` calls it after every save, so no capture app imports review.

A signature (or a source verification) stores the fingerprint of the record's
data at that moment (``core.fingerprint.hash_of``: the record and its children,
canonical JSON). When a covered record is saved, :func:`after_change`
recomputes the fingerprint of every record whose valid signature or
verification covers it and invalidates the rows whose hash no longer matches:
visibly, with the reason for change, by a new ``ReviewInvalidation`` row (the
review rows are append-only, never updated or deleted).
"""

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.text import capfirst

from accounts.scoping import require
from accounts.services import password_recheck
from core.fingerprint import hash_of
from core.validation import validate_free_text

from .models import (ALTERED_OUTSIDE_REASON, DataQuery, DataQueryMessage, QueryMessageKind, QueryStatus,
                     ReviewInvalidation, Signature, SignatureMeaning, SourceVerification)


def _patient_of(record):
    """The patient whose casebook holds the record (the outermost review parent)."""
    return record.review_parents()[-1]


# --- Invalidation ------------------------------------------------------------

def review_rows(record):
    """Signatures and verifications of one record that no recorded invalidation ended."""
    content_type = ContentType.objects.get_for_model(record)
    keys = {"content_type": content_type, "object_id": record.pk}
    return (list(Signature.objects.filter(**keys).not_invalidated())
            + list(SourceVerification.objects.filter(**keys).not_invalidated()))


def invalidate(row, reason, user=None):
    """End the validity of a signature or a verification: a new row, never an update."""
    invalidation = ReviewInvalidation(**{row.INVALIDATION_FIELD: row}, patient_id=row.patient_id,
                                      reason=reason, user=user)
    if user is not None:
        invalidation._history_user = user
    invalidation._change_reason = f"{row._meta.verbose_name.capitalize()} invalidated"
    invalidation.save()
    row.invalidation_at, row.invalidation_reason = invalidation.at, invalidation.reason
    return invalidation


def after_change(instance, reason, user=None):
    """Invalidate the signatures and verifications that the change of
    ``instance`` made untrue (their record's data hash moved)."""
    for parent in instance.review_parents():
        if parent is None or parent.pk is None:
            continue
        rows = review_rows(parent)
        if not rows:
            continue
        parent = type(parent).objects.get(pk=parent.pk)  # the data as now stored
        current = hash_of(parent)
        for row in rows:
            if row.data_hash != current:
                who = f" by {user.get_username()}" if user is not None else ""
                invalidate(row, f"{capfirst(instance._meta.verbose_name)} changed{who}: "
                                f"{reason or 'no reason given'}", user)



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
    require(user, "review.sign_record", site_id=_patient_of(record).site_id,
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
    require(user, "review.verify_source", site_id=cycle.patient.site_id,
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
    require(user, "review.raise_query", site_id=_patient_of(record).site_id,
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
    require(user, "review.answer_query", site_id=query.patient.site_id,
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
    require(user, "review.raise_query", site_id=query.patient.site_id,
            message="Only a monitor closes data queries.")
    if query.status == QueryStatus.CLOSED:
        raise ValidationError("The query is already closed.", code="already_closed")
    _message(query, QueryMessageKind.CLOSE, user, text or "Closed.")
    _set_status(query, QueryStatus.CLOSED, user, "Closed")
    return query


@transaction.atomic
def query_reopen(*, query, user, text):
    require(user, "review.raise_query", site_id=query.patient.site_id,
            message="Only a monitor re-opens data queries.")
    text = (text or "").strip()
    if not text:
        raise ValidationError({"text": ValidationError("Say why the query is re-opened.", code="required")})
    if query.status == QueryStatus.OPEN:
        raise ValidationError("The query is already open.", code="already_open")
    _message(query, QueryMessageKind.REOPEN, user, text)
    _set_status(query, QueryStatus.OPEN, user, "Re-opened")
    return query
