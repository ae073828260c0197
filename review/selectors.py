"""Review reads: the review state the capture pages show next to the records
(signatures, verifications, data queries), and the integrity check of every
signature and verification (the audit's check page and ``manage.py
verify_signatures``).

Validity is never a stored flag alone: a row is valid while no invalidation
ends it AND the fingerprint of the record's current data equals its stored
hash (``ReviewTarget.is_valid``). The pages that show review rows compute the
current hashes in bulk (:func:`attach_current_hashes`, from rows they already
hold, a constant number of queries), and :func:`check_reviews` lists every row
the application holds valid whose data no longer match: data changed, or an
invalidation removed, behind the application's back.

``review_state`` is registered with ``core.selectors`` by ``ReviewConfig.ready``:
the capture pages call ``core.selectors.review_state`` and never import review.
"""

from dataclasses import dataclass, field

from django.utils.text import capfirst
from django.utils.translation import gettext as _

from .models import DataQuery, QueryStatus, Signature, SourceVerification


@dataclass
class ReviewState:
    """The latest signature and verification per record key ``(model name, pk)``,
    and the data queries per cycle number (None: patient-level records)."""

    signatures: dict = field(default_factory=dict)
    verifications: dict = field(default_factory=dict)
    queries_by_cycle: dict = field(default_factory=dict)
    queries: list = field(default_factory=list)
    #: The latest SDV mark of single fields, keyed ``(model name, pk, field name)``.
    field_marks: dict = field(default_factory=dict)
    patient: object = None

    @property
    def rows(self):
        return [*self.signatures.values(), *self.verifications.values(), *self.field_marks.values()]

    def field_mark(self, record, field_name):
        """The latest SDV mark of one field of ``record`` (valid or not), or None."""
        return self.field_marks.get((record._meta.model_name, record.pk, field_name))

    def marks_of(self, record):
        """Every field mark of ``record``."""
        key = (record._meta.model_name, record.pk)
        return [mark for (model, pk, _), mark in self.field_marks.items() if (model, pk) == key]

    def signature(self, record):
        return self.signatures.get((record._meta.model_name, record.pk))

    def verification(self, record):
        return self.verifications.get((record._meta.model_name, record.pk))

    def cycle_queries(self, number):
        return self.queries_by_cycle.get(number, [])

    def field_queries(self, record, field_name=""):
        """The queries on one field of ``record`` (``""``: on the whole record), oldest first."""
        key = (record._meta.model_name, record.pk, field_name)
        if not hasattr(self, "_by_field"):
            self._by_field = {}
            for query in self.queries:
                self._by_field.setdefault((query.content_type.model, query.object_id, query.field_name),
                                          []).append(query)
        return self._by_field.get(key, [])

    @property
    def open_queries(self):
        return [q for q in self.queries if q.status != QueryStatus.CLOSED]

    def attach_current_hashes(self, hashes):
        """Give every signature and verification the fingerprint of its record's current
        data (``hashes`` keyed ``(model name, pk)``, see :func:`attach_current_hashes`)."""
        attach_current_hashes([row for row in self.rows if row.covers_fingerprint], hashes)
        return self

    def attach_record(self, record):
        """Give the rows about ``record`` that have no current hash yet the one of ``record``
        as the page holds it (no query; a cycle with its assessment and infusions loaded)."""
        key = (record._meta.model_name, record.pk)
        rows = [row for row in (self.signatures.get(key), self.verifications.get(key)) if row is not None]
        for row in rows + self.marks_of(record):
            if "_current_hash" not in row.__dict__:
                row.current_hash = row.hash_now(record)
        return self


def review_state(patient):
    """The patient's review state in three queries (each signature and verification
    with its recorded invalidation, if any). Whether each is valid also needs the
    hash of its record's current data: the caller attaches them
    (:meth:`ReviewState.attach_current_hashes`), else each row computes its own."""
    state = ReviewState(patient=patient)
    for signature in (Signature.objects.filter(patient=patient).with_invalidation()
                      .select_related("content_type").order_by("signed_at", "pk")):
        state.signatures[(signature.content_type.model, signature.object_id)] = signature
    for verification in (SourceVerification.objects.filter(patient=patient).with_invalidation()
                         .select_related("content_type", "verified_by").order_by("verified_at", "pk")):
        if verification.field_name:
            state.field_marks[(verification.content_type.model, verification.object_id,
                               verification.field_name)] = verification
        else:
            state.verifications[(verification.content_type.model, verification.object_id)] = verification
    for query in DataQuery.objects.filter(patient=patient).select_related("content_type").order_by("raised_at", "pk"):
        state.queries_by_cycle.setdefault(query.cycle_number, []).append(query)
        state.queries.append(query)
    return state


def attach_current_hashes(rows, hashes):
    """Give each review row (its ``content_type`` loaded) the hash of its record's
    current data, from ``hashes`` keyed ``(model name, pk)`` (missing: the record
    is gone, and the row is not valid)."""
    for row in rows:
        row.current_hash = hashes.get((row.content_type.model, row.object_id))
    return rows


def _current_records(model, pks):
    manager = model._default_manager
    rows = manager.for_signature() if hasattr(manager, "for_signature") else manager.all()
    return {(model._meta.model_name, record.pk): record for record in rows.filter(pk__in=list(pks))}


CHECK_CHUNK_SIZE = 200


@dataclass
class ReviewCheck:
    """The outcome of :func:`check_reviews`: how many rows were re-hashed, and the broken ones
    (each with ``record_label``, ``problem``, ``current_hash`` None when the record is gone)."""

    checked: int = 0
    broken: list = field(default_factory=list)


def _record_label(record):
    if record is None:
        return _("record missing")
    if record._meta.model_name == "patient":
        return _("Casebook")
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
            signed = dict(model.history.filter(id__in=[row.pk for row in chunk], history_type="+")
                          .values_list("id", "data_hash"))
            for row in chunk:
                record = records.get((row.content_type.model, row.object_id))
                row.current_hash = None if record is None else row.hash_now(record)
                row.invalidation_at = row.invalidation_reason = None  # not_invalidated(): none recorded
                if row.pk not in signed:
                    row.problem = _("no creation record in its history")
                elif signed[row.pk] != row.data_hash:
                    row.problem = _("its stored fingerprint is not the one its history recorded at creation")
                elif row.current_hash is None:
                    row.problem = _("its record is gone")
                elif not row.data_matches:
                    row.problem = _("the data no longer match its fingerprint")
                else:
                    row.problem = None
                if row.problem:
                    row.record_label = _record_label(records.get((row.content_type.model, row.object_id)))
                    if getattr(row, "field_name", ""):
                        row.record_label += f" / {row.field_label}"
                    row.kind_label = capfirst(model._meta.verbose_name)
                    row.reviewed_by, row.reviewed_at = getattr(row, by), getattr(row, at)
                    result.broken.append(row)
    return result
