"""Signed and verified data: what a signature covers, and what happens when it changes.

A signature (or a source verification) stores the SHA-256 of the record's
data at that moment: ``record_payload`` of the record and its children
(``signature_payload()`` on the model), canonical JSON. When a covered record
is saved, ``after_change`` recomputes the hash of every record whose valid
signature or verification covers it and invalidates the rows whose hash no
longer matches: visibly, with the reason for change, by a new
``ReviewInvalidation`` row (the review rows are append-only, never updated or
deleted).

Validity is never a stored flag alone: a row is valid while no invalidation
ends it AND the hash of the record's current data equals its stored hash
(``ReviewTarget.is_valid``). The pages that show review rows compute the
current hashes in bulk (:func:`attach_current_hashes`, from rows they already
hold, a constant number of queries), and
:func:`check_reviews` (the audit's check page and ``manage.py
verify_signatures``) lists every row the application holds valid whose data
no longer match: data changed, or an invalidation removed, behind the
application's back.
"""

import hashlib
import json
from dataclasses import dataclass, field
from decimal import Decimal

from django.contrib.contenttypes.models import ContentType
from django.utils.text import capfirst


def record_payload(instance):
    """The record's data as a JSON-ready dict: concrete fields, minus bookkeeping
    and review state (``SIGNATURE_EXCLUDE``)."""
    exclude = set(getattr(instance, "SIGNATURE_EXCLUDE", ()))
    data = {}
    for field in instance._meta.concrete_fields:
        if field.name in exclude:
            continue
        value = getattr(instance, field.attname)
        if isinstance(value, Decimal):
            value = format(value.normalize(), "f")
        elif hasattr(value, "isoformat"):
            value = value.isoformat()
        data[field.attname] = value
    return data


def data_hash(payload):
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def hash_of(record):
    return data_hash(record.signature_payload())


def review_rows(record):
    """Signatures and verifications of one record that no recorded invalidation ended."""
    from .models import Signature, SourceVerification

    content_type = ContentType.objects.get_for_model(record)
    keys = {"content_type": content_type, "object_id": record.pk}
    return (list(Signature.objects.filter(**keys).not_invalidated())
            + list(SourceVerification.objects.filter(**keys).not_invalidated()))


def invalidate(row, reason, user=None):
    """End the validity of a signature or a verification: a new row, never an update."""
    from .models import ReviewInvalidation

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


def attach_current_hashes(rows, hashes):
    """Give each review row (its ``content_type`` loaded) the hash of its record's
    current data, from ``hashes`` keyed ``(model name, pk)`` (missing: the record
    is gone, and the row is not valid)."""
    for row in rows:
        row.current_hash = hashes.get((row.content_type.model, row.object_id))
    return rows


def _current_records(model, pks):
    return {(model._meta.model_name, record.pk): record
            for record in model._default_manager.for_signature().filter(pk__in=list(pks))}


CHECK_CHUNK_SIZE = 200


@dataclass
class ReviewCheck:
    """The outcome of :func:`check_reviews`: how many rows were re-hashed, and the broken ones
    (each with ``record_label``, ``problem``, ``current_hash`` None when the record is gone)."""

    checked: int = 0
    broken: list = field(default_factory=list)


def _record_label(record):
    if record is None:
        return "record missing"
    if record._meta.model_name == "patient":
        return "Casebook"
    number = getattr(record, "number", None)
    return f"{capfirst(record._meta.verbose_name)} {number if number is not None else record.pk}"


def check_reviews(patients=None, chunk_size=CHECK_CHUNK_SIZE):
    """Re-hash the records of every signature and source verification that no recorded
    invalidation ended; the broken ones are those whose record's current data no longer
    hash to the stored value (or whose record is gone): changed, or an invalidation
    removed, behind the application's back. Also broken: a row whose stored hash is not
    the one its history recorded when it was created (the row itself rewritten). ``patients``:
    a queryset to narrow to (the user's sites). Oldest first; a constant number of queries
    per chunk of rows."""
    from .models import Signature, SourceVerification

    result = ReviewCheck()
    for model, by, at in ((Signature, "signer", "signed_at"), (SourceVerification, "verified_by", "verified_at")):
        rows = model.objects.not_invalidated().select_related("content_type", "patient", by).order_by("pk")
        if patients is not None:
            rows = rows.filter(patient__in=patients)
        last = 0
        while chunk := list(rows.filter(pk__gt=last)[:chunk_size]):
            last = chunk[-1].pk
            result.checked += len(chunk)
            by_type = {}
            for row in chunk:
                by_type.setdefault(row.content_type, set()).add(row.object_id)
            records = {}
            for content_type, pks in by_type.items():
                records.update(_current_records(content_type.model_class(), pks))
            hashes = {key: hash_of(record) for key, record in records.items()}
            signed = dict(model.history.filter(id__in=[row.pk for row in chunk], history_type="+")
                          .values_list("id", "data_hash"))
            for row in attach_current_hashes(chunk, hashes):
                row.invalidation_at = row.invalidation_reason = None  # not_invalidated(): none recorded
                if row.pk not in signed:
                    row.problem = "no creation record in its history"
                elif signed[row.pk] != row.data_hash:
                    row.problem = "its stored fingerprint is not the one its history recorded at creation"
                elif row.current_hash is None:
                    row.problem = "its record is gone"
                elif not row.data_matches:
                    row.problem = "the data no longer match its fingerprint"
                else:
                    row.problem = None
                if row.problem:
                    row.record_label = _record_label(records.get((row.content_type.model, row.object_id)))
                    row.kind_label = capfirst(model._meta.verbose_name)
                    row.reviewed_by, row.reviewed_at = getattr(row, by), getattr(row, at)
                    result.broken.append(row)
    return result
