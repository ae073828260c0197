from django.db import models


class ClinicalRecord(models.Model):
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

    class Meta:
        abstract = True

    def get_constraints(self):
        """Model validation checks the unique constraints only.

        Every CheckConstraint restates a rule that ``clean()`` enforces with a
        field-level message; the database keeps the constraint as a backstop
        for writes that bypass validation, without a second, vaguer message.
        """
        return [(model, [c for c in constraints if not isinstance(c, models.CheckConstraint)])
                for model, constraints in super().get_constraints()]
