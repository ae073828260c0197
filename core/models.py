from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import models
from django.db.models import Exists, OuterRef, Q, Subquery
from django.utils import timezone
from simple_history.models import HistoricalRecords

from .validation import CleanTextModel


class ClinicalRecord(CleanTextModel, models.Model):
    """Base for every clinical record.

    ``version`` is the optimistic-concurrency counter: an edit says which
    version it started from and is refused when the stored one has moved on
    (see :func:`core.services.record_save`). Subclasses declare their own
    ``history = HistoricalRecords()`` so each history table is explicit.
    """

    version = models.PositiveIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    #: Fields the change log does not list (bookkeeping, not data).
    CHANGE_LOG_EXCLUDE = ("version", "created_at", "updated_at")
    #: Fields a signature or a verification does not cover (bookkeeping and review state).
    SIGNATURE_EXCLUDE = ("version", "created_at", "updated_at", "locked_at", "locked_by",
                         "lock_reason", "reviewed_at", "reviewed_by")

    class Meta:
        abstract = True

    #: The foreign keys naming the records this one belongs to, the way up to the
    #: patient first (e.g. an infusion: its cycle; an assessment: its cycle, else its
    #: patient). Every clinical record but the patient declares at least one
    #: (``tests/core/test_write_channels.py`` checks it). They are fixed at creation:
    #: ``record_save`` refuses a change (code ``parent_immutable``), so no channel
    #: moves a record to another patient, and a record's site is its patient's.
    PARENT_FIELDS = ()
    #: Further foreign keys fixed at creation that lead to no clinical record (a
    #: patient's site).
    FIXED_FIELDS = ()

    def parent_record(self):
        """The record this one belongs to (the first set of ``PARENT_FIELDS``), or None."""
        for name in self.PARENT_FIELDS:
            field = self._meta.get_field(name)
            if getattr(self, field.attname) is not None:
                return getattr(self, name)
            if field.is_cached(self) and field.get_cached_value(self) is not None:
                return field.get_cached_value(self)  # assigned before it was saved
        return None

    def parent_chain(self):
        """The records above this one, up to its patient, innermost first."""
        chain, record = [], self.parent_record()
        while record is not None:
            chain.append(record)
            record = record.parent_record() if isinstance(record, ClinicalRecord) else None
        return chain

    def patient_record(self):
        """The patient whose casebook holds this record (itself for a patient), or None."""
        for record in [self, *self.parent_chain()]:
            if record._meta.label_lower == "patients.patient":
                return record
        return None

    def review_parents(self):
        """The records whose lock, signature and verification cover this one: the
        lockable ones among itself and its parents (a cycle, its patient's casebook),
        innermost first. Every write beneath a locked one is refused
        (:meth:`check_not_locked`), whatever the channel."""
        return [record for record in [self, *self.parent_chain()] if isinstance(record, Lockable)]

    lock_parents = review_parents

    @classmethod
    def write_permission(cls, creating):
        """The permission a user needs, at the patient's site, to write this record
        through ``record_save``; None for records the rules write on behalf of an
        already authorised write (protocol deviations)."""
        action = "add" if creating else "change"
        return f"{cls._meta.app_label}.{action}_{cls._meta.model_name}"

    def full_clean(self, *args, **kwargs):
        self.check_not_locked()
        super().full_clean(*args, **kwargs)

    def check_not_locked(self, for_update=False):
        """Refuse any write under a lock, whatever the path (form, admin, API, import).

        The lock is read from the database, not from the possibly stale
        instance. A lock operation itself sets ``_lock_operation``.
        ``for_update`` (inside the saving transaction, ``record_save``) reads
        the parents with a row lock, outermost (the casebook) first, the same
        lock a lock operation takes: a lock committed while the edit was being
        validated is seen, and a lock cannot slip in before the edit commits.
        """
        if getattr(self, "_lock_operation", False):
            return
        parents = self.review_parents()
        if for_update:
            parents = list(reversed(parents))
        for parent in parents:
            if parent is None or parent.pk is None:
                continue
            rows = type(parent).objects.filter(pk=parent.pk)
            if for_update:
                rows = rows.select_for_update()
            locked = (rows.filter(locked_at__isnull=False)
                      .values_list("locked_at", flat=True).first())
            if locked:
                what = "casebook of this patient" if parent._meta.model_name == "patient" else str(parent)
                raise ValidationError({NON_FIELD_ERRORS: ValidationError(
                    "The %(what)s is locked (since %(when)s): no change is possible until an "
                    "administrator unlocks it.",
                    code="locked",
                    params={"what": what, "when": timezone.localtime(locked).strftime("%Y-%m-%d %H:%M")},
                )})

    def get_constraints(self):
        """Model validation checks the unique constraints only.

        Every CheckConstraint restates a rule that ``clean()`` enforces with a
        field-level message; the database keeps the constraint as a backstop
        for writes that bypass validation, without a second, vaguer message.
        """
        return [(model, [c for c in constraints if not isinstance(c, models.CheckConstraint)])
                for model, constraints in super().get_constraints()]


class Lockable(models.Model):
    """A record an administrator can lock (a cycle, a patient's casebook)."""

    locked_at = models.DateTimeField(null=True, blank=True, editable=False)
    locked_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True,
                                  blank=True, editable=False, related_name="+")
    lock_reason = models.TextField(blank=True, editable=False)

    class Meta:
        abstract = True

    @property
    def is_locked(self):
        return self.locked_at is not None


#: Why a review row whose hash no longer matches, with no invalidation recorded, is not valid.
ALTERED_OUTSIDE_REASON = ("The data no longer match the fingerprint taken when this was recorded, and "
                          "the application recorded no change: altered outside the application")


class ReviewQuerySet(models.QuerySet):
    def _invalidations(self):
        return ReviewInvalidation.objects.filter(**{self.model.INVALIDATION_FIELD: OuterRef("pk")})

    def with_invalidation(self):
        """Annotate the first recorded invalidation (time and reason), in the same query."""
        first = self._invalidations().order_by("at", "pk")
        return self.annotate(invalidation_at=Subquery(first.values("at")[:1]),
                             invalidation_reason=Subquery(first.values("reason")[:1]))

    def not_invalidated(self):
        """The rows no recorded invalidation ended (their hash still has to match to be valid)."""
        return self.filter(~Exists(self._invalidations()))


class ReviewTarget(CleanTextModel, models.Model):
    """A review row keyed by the record it is about (a cycle or a casebook).

    Append-only (``oversight.append_only``): the row is never updated. It is
    valid while no :class:`ReviewInvalidation` ends it AND the hash of the
    record's current data equals ``data_hash``; so a row whose data were changed
    behind the application's back (or whose invalidation row was removed) shows
    as invalid. ``current_hash`` is computed in bulk by the pages that show the
    rows (:func:`core.review.attach_current_hashes`), else on first use.
    """

    content_type = models.ForeignKey(ContentType, on_delete=models.PROTECT)
    object_id = models.PositiveBigIntegerField()
    record = GenericForeignKey("content_type", "object_id")
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="+")
    data_hash = models.CharField(max_length=64, help_text="SHA-256 of the record's data when reviewed.")
    # Before core 0003 an invalidation was written here in place. Kept (the history rows hold
    # them too) and copied into ReviewInvalidation rows; never written, never read for validity.
    legacy_invalidated_at = models.DateTimeField("invalidated at", null=True, blank=True, editable=False,
                                                 db_column="invalidated_at")
    legacy_invalidated_reason = models.TextField("invalidated reason", blank=True, editable=False,
                                                 db_column="invalidated_reason")

    objects = ReviewQuerySet.as_manager()

    class Meta:
        abstract = True

    def refresh_from_db(self, *args, **kwargs):
        for cached in ("invalidation_at", "invalidation_reason", "_current_hash"):
            self.__dict__.pop(cached, None)
        super().refresh_from_db(*args, **kwargs)

    @property
    def invalidation(self):
        """``(at, reason)`` of the first recorded invalidation, or None."""
        if "invalidation_at" not in self.__dict__:
            first = self.invalidations.order_by("at", "pk").values_list("at", "reason").first()
            self.invalidation_at, self.invalidation_reason = first or (None, None)
        return (self.invalidation_at, self.invalidation_reason) if self.invalidation_at else None

    @property
    def current_hash(self):
        if "_current_hash" not in self.__dict__:
            from .review import hash_of

            record = self.content_type.model_class()._default_manager.filter(pk=self.object_id).first()
            self._current_hash = None if record is None else hash_of(record)
        return self._current_hash

    @current_hash.setter
    def current_hash(self, value):
        self._current_hash = value

    @property
    def data_matches(self):
        return self.current_hash == self.data_hash

    @property
    def is_valid(self):
        return self.invalidation is None and self.data_matches

    @property
    def invalidated_at(self):
        """When the application recorded the invalidation (None if it recorded none)."""
        invalidation = self.invalidation
        return invalidation[0] if invalidation else None

    @property
    def invalidated_reason(self):
        invalidation = self.invalidation
        if invalidation:
            return invalidation[1]
        return "" if self.data_matches else ALTERED_OUTSIDE_REASON


class SignatureMeaning(models.TextChoices):
    REVIEWED = "reviewed and approved", "Reviewed and approved"


class Signature(ReviewTarget):
    """An electronic signature (21 CFR 11.50, 11.70, 11.200): signer, time (UTC),
    meaning and a hash of the signed data. A later change to the data
    invalidates it visibly (a :class:`ReviewInvalidation` row); it is never
    changed or deleted."""

    INVALIDATION_FIELD = "signature"

    signer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    signer_name = models.CharField("printed name", max_length=200)
    signed_at = models.DateTimeField(default=timezone.now)
    meaning = models.CharField(max_length=40, choices=SignatureMeaning.choices, default=SignatureMeaning.REVIEWED)
    history = HistoricalRecords()

    class Meta(ReviewTarget.Meta):
        ordering = ["-signed_at", "-pk"]
        indexes = [models.Index(fields=["content_type", "object_id"], name="core_signature_record_idx")]
        permissions = [("sign_record", "Can sign cycles and casebooks")]

    def __str__(self):
        return f"{self.signer_name}, {self.signed_at:%Y-%m-%d %H:%M} UTC, {self.meaning}"


class SourceVerification(ReviewTarget):
    """Source data verification of a cycle by a monitor; cleared (kept, a
    :class:`ReviewInvalidation` row added) when the verified data change."""

    INVALIDATION_FIELD = "verification"

    verified_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    verified_at = models.DateTimeField(default=timezone.now)
    history = HistoricalRecords()

    class Meta(ReviewTarget.Meta):
        ordering = ["-verified_at", "-pk"]
        indexes = [models.Index(fields=["content_type", "object_id"], name="core_sdv_record_idx")]
        permissions = [("verify_source", "Can mark source data verified")]


class ReviewInvalidation(CleanTextModel, models.Model):
    """The end of a signature's or a source verification's validity: a new row
    (the review row itself is append-only and never updated), with the reason,
    the time and the user whose change caused it."""

    signature = models.ForeignKey(Signature, on_delete=models.PROTECT, null=True, blank=True,
                                  related_name="invalidations")
    verification = models.ForeignKey(SourceVerification, on_delete=models.PROTECT, null=True, blank=True,
                                     related_name="invalidations")
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(default=timezone.now)
    reason = models.TextField()
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                             related_name="+")
    history = HistoricalRecords()

    class Meta:
        ordering = ["at", "pk"]
        constraints = [models.CheckConstraint(
            condition=Q(signature__isnull=False, verification__isnull=True)
            | Q(signature__isnull=True, verification__isnull=False),
            name="review_invalidation_one_target")]

    def __str__(self):
        return f"Invalidated {self.at:%Y-%m-%d %H:%M} UTC: {self.reason}"


class QueryStatus(models.TextChoices):
    OPEN = "open", "Open"
    ANSWERED = "answered", "Answered"
    CLOSED = "closed", "Closed"


class DataQuery(CleanTextModel, models.Model):
    """A monitor's question about one record (and field); answered by the site,
    closed or re-opened by the monitor. The thread is in ``messages``."""

    content_type = models.ForeignKey(ContentType, on_delete=models.PROTECT)
    object_id = models.PositiveBigIntegerField()
    record = GenericForeignKey("content_type", "object_id")
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="data_queries")
    cycle_number = models.PositiveSmallIntegerField(null=True, blank=True,
                                                    help_text="The cycle the record belongs to, if any.")
    field_name = models.CharField(max_length=100, blank=True)
    field_label = models.CharField(max_length=200, blank=True)
    record_label = models.CharField(max_length=200)
    status = models.CharField(max_length=10, choices=QueryStatus.choices, default=QueryStatus.OPEN)
    raised_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    raised_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-updated_at", "-pk"]
        indexes = [models.Index(fields=["patient", "status"]), models.Index(fields=["status"])]
        permissions = [("raise_query", "Can raise, close and re-open data queries"),
                       ("answer_query", "Can answer data queries")]

    def __str__(self):
        return f"Query on {self.record_label}{' / ' + self.field_label if self.field_label else ''}"


class QueryMessageKind(models.TextChoices):
    QUESTION = "question", "Question"
    ANSWER = "answer", "Answer"
    CLOSE = "close", "Closed"
    REOPEN = "reopen", "Re-opened"


class DataQueryMessage(CleanTextModel, models.Model):
    """One message of a query's thread. Append-only (``oversight/append_only.py``):
    never edited or deleted; a correction is a further message."""

    query = models.ForeignKey(DataQuery, on_delete=models.PROTECT, related_name="messages")
    kind = models.CharField(max_length=10, choices=QueryMessageKind.choices)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(default=timezone.now)
    text = models.TextField()
    history = HistoricalRecords()

    class Meta:
        ordering = ["at", "pk"]
