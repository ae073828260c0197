"""The record kernel's base models: :class:`ClinicalRecord` (version, lock check,
review parents) and :class:`Lockable`. The review rows kept about records
(signatures, source verifications, data queries) live in the ``review`` app."""

from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import models
from django.utils import timezone

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

    def review_parents(self):
        """The records whose lock, signature and verification cover this one
        (a cycle and its patient's casebook); none by default."""
        return []

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
