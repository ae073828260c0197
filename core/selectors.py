"""Reads of the review state (signatures, verifications, data queries) that the
capture pages show next to the records they are about."""

from dataclasses import dataclass, field

from .models import DataQuery, QueryStatus, Signature, SourceVerification


@dataclass
class ReviewState:
    """The latest signature and verification per record key ``(model name, pk)``,
    and the data queries per cycle number (None: patient-level records)."""

    signatures: dict = field(default_factory=dict)
    verifications: dict = field(default_factory=dict)
    queries_by_cycle: dict = field(default_factory=dict)
    queries: list = field(default_factory=list)

    @property
    def rows(self):
        return [*self.signatures.values(), *self.verifications.values()]

    def signature(self, record):
        return self.signatures.get((record._meta.model_name, record.pk))

    def verification(self, record):
        return self.verifications.get((record._meta.model_name, record.pk))

    def cycle_queries(self, number):
        return self.queries_by_cycle.get(number, [])

    @property
    def open_queries(self):
        return [q for q in self.queries if q.status != QueryStatus.CLOSED]


def review_state(patient):
    """The patient's review state in three queries (each signature and verification
    with its recorded invalidation, if any). Whether each is valid also needs the
    hash of its record's current data: the caller attaches them
    (``core.review.attach_current_hashes``), else each row computes its own."""
    state = ReviewState()
    for signature in (Signature.objects.filter(patient=patient).with_invalidation()
                      .select_related("content_type").order_by("signed_at", "pk")):
        state.signatures[(signature.content_type.model, signature.object_id)] = signature
    for verification in (SourceVerification.objects.filter(patient=patient).with_invalidation()
                         .select_related("content_type", "verified_by").order_by("verified_at", "pk")):
        state.verifications[(verification.content_type.model, verification.object_id)] = verification
    for query in DataQuery.objects.filter(patient=patient).order_by("raised_at", "pk"):
        state.queries_by_cycle.setdefault(query.cycle_number, []).append(query)
        state.queries.append(query)
    return state
