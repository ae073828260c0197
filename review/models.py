"""What a monitor or an investigator adds to a clinical record: electronic
signatures, source data verifications (and the invalidations that end them),
and data queries with their message threads.

The tables keep the names they had when these models lived in ``core``
(``core_signature`` ...): the move to this app was a change of the migration
state only (``core.0004`` / ``review.0001``), not of the database.
"""

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Exists, OuterRef, Q, Subquery
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext, gettext_noop
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from simple_history.models import HistoricalRecords

from core.fingerprint import data_hash, field_payload, form_payload, hash_of
from core.validation import CleanTextModel


#: Why a review row whose hash no longer matches, with no invalidation recorded, is not valid.
#: Stored as an invalidation's reason in the source language (``gettext_noop``); shown
#: translated (``ReviewTarget.invalidated_reason``).
ALTERED_OUTSIDE_REASON = gettext_noop("The data no longer match the fingerprint taken when this was recorded, "
                                      "and the application recorded no change: altered outside the application")


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
    rows (:func:`review.selectors.attach_current_hashes`), else on first use.
    """

    content_type = models.ForeignKey(ContentType, on_delete=models.PROTECT, verbose_name=_("record type"))
    object_id = models.PositiveBigIntegerField(_("record id"))
    record = GenericForeignKey("content_type", "object_id")
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="+",
                                verbose_name=_("patient"))
    data_hash = models.CharField(_("data fingerprint"), max_length=64,
                                 help_text=_("SHA-256 of the record's data when reviewed."))
    # Before core 0003 (when these models were in core) an invalidation was written here in place. Kept (the history rows hold
    # them too) and copied into ReviewInvalidation rows; never written, never read for validity.
    legacy_invalidated_at = models.DateTimeField(_("invalidated at"), null=True, blank=True, editable=False,
                                                 db_column="invalidated_at")
    legacy_invalidated_reason = models.TextField(_("invalidated reason"), blank=True, editable=False,
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
            record = self.content_type.model_class()._default_manager.filter(pk=self.object_id).first()
            self._current_hash = None if record is None else self.hash_now(record)
        return self._current_hash

    def hash_now(self, record):
        """The fingerprint of what this row covers, from ``record`` as it is now."""
        return hash_of(record)

    #: The row's hash is the record's whole fingerprint (``hash_of``): the pages may attach
    #: it from the fingerprints they compute in bulk (``ReviewState.attach_current_hashes``).
    covers_fingerprint = True

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
            return _display_reason(invalidation[1])
        return "" if self.data_matches else gettext(ALTERED_OUTSIDE_REASON)


def _display_reason(reason):
    """A stored invalidation reason as shown: the application's own fixed reason (stored in
    the source language) translated, any other reason (a user's words) as written."""
    return gettext(ALTERED_OUTSIDE_REASON) if reason == ALTERED_OUTSIDE_REASON else reason


class SignatureMeaning(models.TextChoices):
    """The meaning of a signature (21 CFR 11.50): the value is what is stored with the
    signature, in the source language whatever the signer's; the label is shown translated."""

    REVIEWED = "reviewed and approved", _("Reviewed and approved")


class Signature(ReviewTarget):
    """An electronic signature (21 CFR 11.50, 11.70, 11.200): signer, time (UTC),
    meaning and a hash of the signed data. A later change to the data
    invalidates it visibly (a :class:`ReviewInvalidation` row); it is never
    changed or deleted."""

    INVALIDATION_FIELD = "signature"

    signer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                               verbose_name=_("signer"))
    signer_name = models.CharField(_("printed name"), max_length=200)
    signed_at = models.DateTimeField(_("signed at"), default=timezone.now)
    meaning = models.CharField(_("meaning"), max_length=40, choices=SignatureMeaning.choices,
                               default=SignatureMeaning.REVIEWED)
    history = HistoricalRecords(table_name="core_historicalsignature")

    class Meta(ReviewTarget.Meta):
        verbose_name = _("electronic signature")
        verbose_name_plural = _("electronic signatures")
        db_table = "core_signature"
        ordering = ["-signed_at", "-pk"]
        indexes = [models.Index(fields=["content_type", "object_id"], name="core_signature_record_idx")]
        permissions = [("sign_record", "Can sign cycles and casebooks")]

    def __str__(self):
        return f"{self.signer_name}, {self.signed_at:%Y-%m-%d %H:%M} UTC, {self.meaning}"


class SourceVerification(ReviewTarget):
    """Source data verification by a monitor of one case report form (``field_name``
    empty: the record's form, ``core.fingerprint.form_payload``: a cycle with its
    assessment and infusions, any other record its own fields) or of one field of it
    (``field_name``: the hash of that field's value only). Cleared (kept, a
    :class:`ReviewInvalidation` row added) when the verified data change."""

    INVALIDATION_FIELD = "verification"

    field_name = models.CharField(_("field name"), max_length=100, blank=True, default="", db_default="",
                                  help_text=_("The one field verified; empty: the whole form."))

    verified_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                                    verbose_name=_("verified by"))
    verified_at = models.DateTimeField(_("verified at"), default=timezone.now)
    history = HistoricalRecords(table_name="core_historicalsourceverification")

    class Meta(ReviewTarget.Meta):
        verbose_name = _("source data verification")
        verbose_name_plural = _("source data verifications")
        db_table = "core_sourceverification"
        ordering = ["-verified_at", "-pk"]
        indexes = [models.Index(fields=["content_type", "object_id"], name="core_sdv_record_idx")]
        permissions = [("verify_source", "Can mark source data verified")]

    def hash_now(self, record):
        if self.field_name:
            return data_hash(field_payload(record, self.field_name))
        return data_hash(form_payload(record))

    @property
    def covers_fingerprint(self):
        return not self.field_name and getattr(self.content_type.model_class(), "FORM_IS_FINGERPRINT", False)

    @property
    def field_label(self):
        if not self.field_name:
            return ""
        return capfirst(self.content_type.model_class()._meta.get_field(self.field_name).verbose_name)


class ReviewInvalidation(CleanTextModel, models.Model):
    """The end of a signature's or a source verification's validity: a new row
    (the review row itself is append-only and never updated), with the reason,
    the time and the user whose change caused it."""

    signature = models.ForeignKey(Signature, on_delete=models.PROTECT, null=True, blank=True,
                                  related_name="invalidations", verbose_name=_("electronic signature"))
    verification = models.ForeignKey(SourceVerification, on_delete=models.PROTECT, null=True, blank=True,
                                     related_name="invalidations", verbose_name=_("source data verification"))
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="+",
                                verbose_name=_("patient"))
    at = models.DateTimeField(_("recorded at"), default=timezone.now)
    reason = models.TextField(_("reason"))
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                             related_name="+", verbose_name=_("user"))
    history = HistoricalRecords(table_name="core_historicalreviewinvalidation")

    class Meta:
        verbose_name = _("review invalidation")
        verbose_name_plural = _("review invalidations")
        db_table = "core_reviewinvalidation"
        ordering = ["at", "pk"]
        constraints = [models.CheckConstraint(
            condition=Q(signature__isnull=False, verification__isnull=True)
            | Q(signature__isnull=True, verification__isnull=False),
            name="review_invalidation_one_target")]

    def __str__(self):
        return f"Invalidated {self.at:%Y-%m-%d %H:%M} UTC: {self.reason}"


class QueryStatus(models.TextChoices):
    OPEN = "open", pgettext_lazy("data query status", "Open")
    ANSWERED = "answered", pgettext_lazy("data query status", "Answered")
    CLOSED = "closed", pgettext_lazy("data query status", "Closed")


class DataQuery(CleanTextModel, models.Model):
    """A monitor's question about one record (and field); answered by the site,
    closed or re-opened by the monitor. The thread is in ``messages``."""

    content_type = models.ForeignKey(ContentType, on_delete=models.PROTECT, verbose_name=_("record type"))
    object_id = models.PositiveBigIntegerField(_("record id"))
    record = GenericForeignKey("content_type", "object_id")
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="data_queries",
                                verbose_name=_("patient"))
    cycle_number = models.PositiveSmallIntegerField(_("cycle number"), null=True, blank=True,
                                                    help_text=_("The cycle the record belongs to, if any."))
    field_name = models.CharField(_("field name"), max_length=100, blank=True)
    field_label = models.CharField(_("field label"), max_length=200, blank=True)
    record_label = models.CharField(_("record label"), max_length=200)
    status = models.CharField(_("status"), max_length=10, choices=QueryStatus.choices, default=QueryStatus.OPEN)
    raised_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                                  verbose_name=_("raised by"))
    raised_at = models.DateTimeField(_("raised at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    # Issue 17: a query an automatic edit check raised (``editchecks``); empty for a person's.
    check_id = models.CharField(_("edit check"), max_length=10, blank=True, default="", db_default="",
                                help_text=_("The automatic edit check that raised the query (e.g. EC001); "
                                            "empty: raised by a person."))
    check_values = models.JSONField(_("values found by the check"), null=True, blank=True, editable=False,
                                    help_text=_("What the edit check found when it raised the query; a query a "
                                                "person closed is not raised again while they are the same."))
    history = HistoricalRecords(table_name="core_historicaldataquery")

    class Meta:
        verbose_name = _("data query")
        verbose_name_plural = _("data queries")
        db_table = "core_dataquery"
        ordering = ["-updated_at", "-pk"]
        # The names Django gave these indexes when the model was in core.
        indexes = [models.Index(fields=["patient", "status"], name="core_dataqu_patient_ad4cac_idx"),
                   models.Index(fields=["status"], name="core_dataqu_status_c027eb_idx"),
                   models.Index(fields=["check_id", "status"], name="dataquery_check_status_idx")]
        constraints = [
            # An edit check never raises a second query on a record and field while its first is not
            # closed (two runs at once, the nightly and an after-save one: the second insert is refused).
            models.UniqueConstraint(fields=["check_id", "content_type", "object_id", "field_name"],
                                    condition=~Q(check_id="") & ~Q(status=QueryStatus.CLOSED),
                                    name="dataquery_one_open_per_check"),
        ]
        permissions = [("raise_query", "Can raise, close and re-open data queries"),
                       ("answer_query", "Can answer data queries")]

    def __str__(self):
        return f"Query on {self.record_label}{' / ' + self.field_label if self.field_label else ''}"


class QueryMessageKind(models.TextChoices):
    QUESTION = "question", pgettext_lazy("data query message", "Question")
    ANSWER = "answer", pgettext_lazy("data query message", "Answer")
    CLOSE = "close", pgettext_lazy("data query message", "Closed")
    REOPEN = "reopen", pgettext_lazy("data query message", "Re-opened")


class DataQueryMessage(CleanTextModel, models.Model):
    """One message of a query's thread. Append-only (``oversight/append_only.py``):
    never edited or deleted; a correction is a further message."""

    query = models.ForeignKey(DataQuery, on_delete=models.PROTECT, related_name="messages",
                              verbose_name=_("data query"))
    kind = models.CharField(_("kind"), max_length=10, choices=QueryMessageKind.choices)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                               verbose_name=_("author"))
    at = models.DateTimeField(_("recorded at"), default=timezone.now)
    text = models.TextField(_("text"))
    history = HistoricalRecords(table_name="core_historicaldataquerymessage")

    class Meta:
        verbose_name = _("data query message")
        verbose_name_plural = _("data query messages")
        db_table = "core_dataquerymessage"
        ordering = ["at", "pk"]
