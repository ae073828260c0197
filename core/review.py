"""Signed and verified data: what a signature covers, and what happens when it changes.

A signature (or a source verification) stores the SHA-256 of the record's
data at that moment: ``record_payload`` of the record and its children
(``signature_payload()`` on the model), canonical JSON. When a covered record
is saved, ``after_change`` recomputes the hash of every record whose valid
signature or verification covers it and invalidates the rows whose hash no
longer matches: visibly, with the reason for change, never deleting them.
"""

import hashlib
import json
from decimal import Decimal

from django.contrib.contenttypes.models import ContentType
from django.utils import timezone
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
    """Valid signatures and verifications of one record."""
    from .models import Signature, SourceVerification

    content_type = ContentType.objects.get_for_model(record)
    keys = {"content_type": content_type, "object_id": record.pk, "invalidated_at__isnull": True}
    return list(Signature.objects.filter(**keys)) + list(SourceVerification.objects.filter(**keys))


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
                row.invalidated_at = timezone.now()
                who = f" by {user.get_username()}" if user is not None else ""
                row.invalidated_reason = (f"{capfirst(instance._meta.verbose_name)} changed{who}: "
                                          f"{reason or 'no reason given'}")
                if user is not None:
                    row._history_user = user
                row._change_reason = "Invalidated by a change to the signed data"
                row.save(update_fields=["invalidated_at", "invalidated_reason"])
