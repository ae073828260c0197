"""The record kernel's base models: :class:`ClinicalRecord` (version, lock check,
review parents) and :class:`Lockable`. The review rows kept about records
(signatures, source verifications, data queries) live in the ``review`` app."""

from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

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
                    _("The %(what)s is locked (since %(when)s): no change is possible until an "
                    "administrator unlocks it."),
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


class MissingCodesRecord(models.Model):
    """A clinical record whose optional fields may carry a missing-data code
    (``core.missing``): one companion column, ``missing_codes`` ({field: code}),
    checked by :func:`core.missing.missing_violations` in ``full_clean()`` (every
    channel). A model names its fields in ``MISSING_ALLOWED`` (and, among them, those
    that need a value or a code in ``MISSING_REQUIRED``)."""

    missing_codes = models.JSONField(
        _("missing-data codes"), default=dict, blank=True,
        help_text=_("Why an optional value is empty: {field: ND (not done), NA (not applicable), "
                    "UNK (unknown) or ASKU (asked but unknown)}."))

    MISSING_ALLOWED = ()
    MISSING_REQUIRED = ()

    class Meta:
        abstract = True

    def missing_code(self, field):
        """The code of ``field`` ("" when none)."""
        codes = self.missing_codes if isinstance(self.missing_codes, dict) else {}
        return codes.get(field, "")

    def clean_fields(self, exclude=None):
        from .missing import missing_violations

        errors = {}
        try:
            super().clean_fields(exclude=exclude)
        except ValidationError as error:
            errors = error.update_error_dict(errors)
        if self.missing_codes is None:
            self.missing_codes = {}
        violations = missing_violations(
            values={name: getattr(self, name) for name in self.MISSING_ALLOWED},
            codes=self.missing_codes, allowed=self.MISSING_ALLOWED, required=self.MISSING_REQUIRED)
        exclude = set(exclude or ())
        for v in violations:
            if v.field in errors or (v.field in exclude and v.field != "missing_codes"):
                continue  # the field's own error says it, or the field is not being edited
            field = NON_FIELD_ERRORS if v.field in exclude else v.field  # a form without the map
            errors.setdefault(field, []).append(ValidationError(v.message, code=v.code))
        if errors:
            raise ValidationError(errors)
