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
from django.db import IntegrityError, transaction
from django.utils.text import capfirst
from django.utils.translation import gettext as _

from accounts.languages import neutral
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
    """Signatures and verifications (of the form or of single fields) of one record that
    no recorded invalidation ended."""
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
    with neutral():  # a stored history reason: the source language, whoever made the change
        invalidation._change_reason = f"{capfirst(str(row._meta.verbose_name))} invalidated"
    invalidation.save()
    row.invalidation_at, row.invalidation_reason = invalidation.at, invalidation.reason
    return invalidation


def after_change(instance, reason, user=None):
    """Invalidate the signatures and verifications that the change of ``instance`` made
    untrue: those of the records covering it (its ``review_parents()``: a cycle, the
    casebook) and those of the record itself (its form's SDV, its fields' SDV marks),
    each whose fingerprint of what it covers moved. A field mark names the field.

    The reason stored with each invalidation is written in the source language
    (``accounts.languages.neutral``): the model and field names in it are data of the
    audit trail, the same whoever's language the change was made in."""
    seen = set()
    for record in (instance, *instance.review_parents()):
        if record is None or record.pk is None or (type(record), record.pk) in seen:
            continue
        seen.add((type(record), record.pk))
        rows = review_rows(record)
        if not rows:
            continue
        current = type(record).objects.get(pk=record.pk)  # the data as now stored
        who = f" by {user.get_username()}" if user is not None else ""
        why = reason or "no reason given"
        for row in rows:
            if row.data_hash == row.hash_now(current):
                continue
            with neutral():
                field_label = str(getattr(row, "field_label", ""))
                what = (f"{field_label} of {record._meta.verbose_name} {_record_name(record)}" if field_label
                        else str(capfirst(instance._meta.verbose_name)))
                text = f"{capfirst(what)} changed{who}: {why}"
            invalidate(row, text, user)


def _record_name(record):
    number = getattr(record, "number", None)
    return str(number) if number is not None else str(record)


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
            message=_("Only an investigator of the patient's site signs its cycles and casebook."))
    if record._meta.model_name == "patient":
        casebook_signable(record)
    if not password_recheck(request=request, user=user, password=password):
        raise SigningRefused(_("The password is not correct: nothing was signed."))
    return _signature_write(record=record, user=user, meaning=meaning)


def casebook_signable(patient):
    """Refuse to sign a casebook while the latest signature of one of its cycles is not
    valid (its data changed after it was signed): the investigator signs that cycle again
    first. A cycle never signed does not block (the casebook signature approves it)."""
    cycles = {cycle.pk: cycle for cycle in patient.cycles.for_signature()}
    latest = {}
    for signature in (Signature.objects.filter(content_type=ContentType.objects.get_for_model(patient.cycles.model),
                                               object_id__in=list(cycles)).with_invalidation()
                      .select_related("content_type").order_by("signed_at", "pk")):
        latest[signature.object_id] = signature
    broken = []
    for pk, signature in sorted(latest.items(), key=lambda item: cycles[item[0]].number):
        signature.current_hash = hash_of(cycles[pk])
        if not signature.is_valid:
            broken.append(_("cycle %(number)s (%(reason)s)") % {"number": cycles[pk].number,
                                                                  "reason": signature.invalidated_reason})
    if broken:
        raise ValidationError(
            _("The casebook cannot be signed while a cycle signature is not valid: sign again %(cycles)s."),
            code="cycle_signature_invalid", params={"cycles": "; ".join(broken)})


@transaction.atomic
def _signature_write(*, record, user, meaning):
    record = type(record).objects.select_for_update().get(pk=record.pk)
    if record._meta.model_name == "patient":
        # Again inside the signature's transaction: a cycle changed while the password was
        # being checked must not slip under the casebook signature.
        casebook_signable(record)
    signature = Signature(
        content_type=ContentType.objects.get_for_model(record), object_id=record.pk,
        patient=_patient_of(record), data_hash=hash_of(record), signer=user,
        signer_name=user.get_full_name() or user.get_username(), meaning=meaning,
    )
    signature._history_user = user
    signature.save()
    return signature


# --- Source data verification ------------------------------------------------

#: Fields a monitor cannot mark verified one by one: bookkeeping, derived facts and review state.
def _verifiable_field(record, field_name):
    try:
        field = record._meta.get_field(field_name)
    except Exception:  # FieldDoesNotExist, or a relation that is not a concrete field
        return False
    return (getattr(field, "concrete", False) and field.editable and not field.primary_key
            and field.name not in getattr(record, "SIGNATURE_EXCLUDE", ())
            and field.name not in getattr(record, "PARENT_FIELDS", ()))


@transaction.atomic
def record_verify(*, record, user, field_name=""):
    """Mark one case report form (``field_name`` empty: the record's form, a cycle with its
    assessment and infusions) or one field of it verified against the source documents.
    A verification whose data no longer match (changed outside the application) is
    invalidated first, with that reason, and the form or field can be verified again."""
    patient = _patient_of(record)
    require(user, "review.verify_source", site_id=patient.site_id,
            message=_("Only a monitor verifies source data."))
    record = type(record).objects.get(pk=record.pk)
    if field_name and not _verifiable_field(record, field_name):
        raise ValidationError({"field_name": ValidationError(_("This field cannot be verified on its own."),
                                                             code="not_verifiable")})
    content_type = ContentType.objects.get_for_model(record)
    verification = SourceVerification(content_type=content_type, object_id=record.pk, patient=patient,
                                      field_name=field_name, data_hash="", verified_by=user)
    current = verification.hash_now(record)
    existing = SourceVerification.objects.filter(content_type=content_type, object_id=record.pk,
                                                 field_name=field_name).not_invalidated()
    for row in existing:
        if row.data_hash == current:
            raise ValidationError(_("This field is already verified.") if field_name
                                  else _("This form is already verified."), code="already_verified")
        invalidate(row, ALTERED_OUTSIDE_REASON, user)
    verification.data_hash = current
    verification._history_user = user
    verification.save()
    return verification


def cycle_verify(*, cycle, user):
    """Mark a cycle's form (visit, assessment, infusions) verified: :func:`record_verify`."""
    return record_verify(record=cycle, user=user)


# --- Data queries ------------------------------------------------------------

#: What runs after a data query is raised or answered, inside its transaction:
#: callables ``hook(event, query, message, user)`` with ``event`` "raised" or
#: "answered". The explicit extension point for the people who must act next
#: (``notifications`` registers itself in its ``AppConfig.ready``), so review
#: imports no workflow app.
query_hooks = []


def register_query_hook(hook):
    """Add ``hook`` to :data:`query_hooks` (once; idempotent)."""
    if hook not in query_hooks:
        query_hooks.append(hook)
    return hook


def _query_event(event, query, message, user):
    for hook in query_hooks:
        hook(event, query, message, user)


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
            message=_("Only a monitor raises data queries."))
    question = (question or "").strip()
    if not question:
        raise ValidationError({"question": ValidationError(_("Write the question."), code="required")})
    query = DataQuery(content_type=ContentType.objects.get_for_model(record), object_id=record.pk,
                      patient=_patient_of(record),
                      cycle_number=cycle_number, field_name=field_name, field_label=field_label,
                      record_label=record_label, raised_by=user)
    query._history_user = user
    query.save()
    message = _message(query, QueryMessageKind.QUESTION, user, question, field="question")
    _query_event("raised", query, message, user)
    return query


@transaction.atomic
def query_answer(*, query, user, text):
    require(user, "review.answer_query", site_id=query.patient.site_id,
            message=_("Only the staff of the patient's site answer its data queries."))
    text = (text or "").strip()
    if not text:
        raise ValidationError({"text": ValidationError(_("Write the answer."), code="required")})
    if query.status != QueryStatus.OPEN:
        raise ValidationError(_("Only an open query can be answered."), code="not_open")
    message = _message(query, QueryMessageKind.ANSWER, user, text)
    _set_status(query, QueryStatus.ANSWERED, user, "Answered")
    _query_event("answered", query, message, user)
    return query


@transaction.atomic
def query_close(*, query, user, text=""):
    require(user, "review.raise_query", site_id=query.patient.site_id,
            message=_("Only a monitor closes data queries."))
    if query.status == QueryStatus.CLOSED:
        raise ValidationError(_("The query is already closed."), code="already_closed")
    _message(query, QueryMessageKind.CLOSE, user, text or "Closed.")  # stored: the source language
    _set_status(query, QueryStatus.CLOSED, user, "Closed")
    return query


@transaction.atomic
def query_reopen(*, query, user, text):
    require(user, "review.raise_query", site_id=query.patient.site_id,
            message=_("Only a monitor re-opens data queries."))
    text = (text or "").strip()
    if not text:
        raise ValidationError({"text": ValidationError(_("Say why the query is re-opened."), code="required")})
    if query.status == QueryStatus.OPEN:
        raise ValidationError(_("The query is already open."), code="already_open")
    _message(query, QueryMessageKind.REOPEN, user, text)
    _set_status(query, QueryStatus.OPEN, user, "Re-opened")
    return query


# --- Data queries of the automatic edit checks (issue 17) ---------------------------------------

@transaction.atomic
def query_raise_by_check(*, check_id, check_values, content_type, object_id, patient_id, field_name, field_label,
                         record_label, question, user, cycle_number=None):
    """A data query raised by an automatic edit check (``editchecks``), as ``user`` (the checks'
    own account): the same rows, history and ``raised`` event (so the same notices) as a
    monitor's :func:`query_raise`, without the role check: the check is the study's decision,
    written in code and switched on or off by an administrator, not an act of the account.

    ``check_id`` and ``check_values`` (what the check found) are stored on the query. At most
    one query of a check per record and field is not closed: the database refuses a second
    (``dataquery_one_open_per_check``: two runs at once); then nothing is written and None is
    returned."""
    if not check_id:
        raise ValueError("An edit check's query names its check.")
    validate_free_text(question, field="question")
    query = DataQuery(content_type=content_type, object_id=object_id, patient_id=patient_id,
                      cycle_number=cycle_number, field_name=field_name, field_label=field_label,
                      record_label=record_label, raised_by=user, check_id=check_id, check_values=check_values)
    query._history_user = user
    query._change_reason = f"Raised by edit check {check_id}"
    try:
        with transaction.atomic():
            query.save()
    except IntegrityError:
        return None  # the same check's query is open already (raised by a run at the same time)
    message = _message(query, QueryMessageKind.QUESTION, user, question.strip(), field="question")
    _query_event("raised", query, message, user)
    return query


@transaction.atomic
def query_close_by_check(*, query, user, text):
    """Close an edit check's own query (open or answered) with ``text``, as ``user`` (the
    checks' account): a closing message and a history row, as a monitor's :func:`query_close`.
    A query a person raised, or one closed meanwhile, is left as it is (None returned)."""
    query = DataQuery.objects.select_for_update().filter(pk=query.pk).first()
    if query is None or not query.check_id or query.status == QueryStatus.CLOSED:
        return None
    _message(query, QueryMessageKind.CLOSE, user, text)
    _set_status(query, QueryStatus.CLOSED, user, "Closed automatically")
    return query
