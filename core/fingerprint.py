"""A record's data fingerprint: the canonical payload of a record and its SHA-256.

Part of the record kernel: a capture model says what its fingerprint covers
(``signature_payload()``, built from :func:`record_payload` of itself and its
children); whatever keeps a fingerprint (the signatures and source
verifications of the ``review`` app) compares :func:`hash_of` of the record
now with the one it stored. Nothing here knows who keeps fingerprints.
"""

import hashlib
import json
from decimal import Decimal


def record_payload(instance):
    """The record's data as a JSON-ready dict: concrete fields, minus bookkeeping
    and review state (``SIGNATURE_EXCLUDE``)."""
    exclude = set(getattr(instance, "SIGNATURE_EXCLUDE", ()))
    data = {}
    for field in instance._meta.concrete_fields:
        if field.name in exclude:
            continue
        value = getattr(instance, field.attname)
        if field.name == "missing_codes" and not value:
            continue  # no code: the payload (and so every earlier signature's hash) is unchanged
        if isinstance(value, Decimal):
            value = format(value.normalize(), "f")
        elif hasattr(value, "isoformat"):
            value = value.isoformat()
        data[field.attname] = value
    return data


def data_hash(payload):
    """SHA-256 (hex) of ``payload`` as canonical JSON (sorted keys, no spaces)."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def hash_of(record):
    """The fingerprint of ``record``'s current data (its ``signature_payload()``)."""
    return data_hash(record.signature_payload())


def form_payload(record):
    """The data of one case report form: the record's own fields, or, for a record
    whose form also holds its children (``FORM_IS_FINGERPRINT``: a cycle with its
    assessment and infusions), its whole fingerprint payload. A patient's form is
    the enrolment form (its own fields), not the casebook."""
    if getattr(record, "FORM_IS_FINGERPRINT", False):
        return record.signature_payload()
    return record_payload(record)


def field_payload(record, field_name):
    """One field's value, as :func:`record_payload` writes it (keyed by the column name)."""
    field = record._meta.get_field(field_name)
    return {field.attname: record_payload(record).get(field.attname)}
