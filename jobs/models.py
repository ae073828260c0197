import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class ScheduledRun(models.Model):
    """One periodic job enqueued for one slot (``jobs.schedules``): the unique pair is
    what keeps two schedulers, or a restarted one, from enqueuing the same slot twice."""

    name = models.CharField(max_length=100)
    slot = models.DateTimeField(help_text=_("The start of the slot (UTC)."))
    enqueued_at = models.DateTimeField(auto_now_add=True)
    task_id = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-slot", "name"]
        constraints = [models.UniqueConstraint(fields=["name", "slot"], name="jobs_scheduledrun_once_per_slot")]

    def __str__(self):
        return f"{self.name} @ {self.slot.isoformat()}"


class JobFileStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Ready")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")
    EXPIRED = "expired", _("Expired (file deleted)")


#: The units a job file counts, as shown (stored: the code).
UNIT_LABELS = {"rows": _("rows"), "pages": _("pages"), "patients": _("patients"), "files": _("files")}


class JobFile(models.Model):
    """A file a background job makes for one user: an export, a PDF casebook, the study's
    close-out archive. The job writes it through Django's storage API
    (``STORAGES["default"]``) and reports its progress here; only its owner (and what
    the kind allows, ``jobs.files.KINDS``) sees and downloads it; it is deleted from the
    storage after its kind's retention (the row stays, status "expired")."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=30)
    label = models.CharField(max_length=200)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="job_files")
    site = models.ForeignKey("accounts.Site", on_delete=models.PROTECT, null=True, blank=True,
                             help_text=_("The one site the file is about (a patient's casebook), if any."))
    params = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=JobFileStatus.choices, default=JobFileStatus.QUEUED)
    done = models.BigIntegerField(default=0, help_text=_("Units written (rows, pages, patients)."))
    total = models.BigIntegerField(null=True, blank=True, help_text=_("Units to write, when known."))
    unit = models.CharField(max_length=20, default="rows")
    cancel_requested = models.BooleanField(default=False)
    storage_name = models.CharField(max_length=300, blank=True)
    filename = models.CharField(max_length=200, blank=True)
    content_type = models.CharField(max_length=100, blank=True)
    size = models.BigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    error = models.TextField(blank=True)
    task_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    progress_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["owner", "kind", "-created_at"]),
                   models.Index(fields=["status", "expires_at"])]

    def __str__(self):
        return f"{self.label} ({self.get_status_display()})"

    @property
    def display_label(self):
        """The label in the reader's language: the kind's ``describe`` builds it from the
        stored parameters (the stored ``label`` stays in the source language)."""
        from .files import KINDS

        kind = KINDS.get(self.kind)
        describe = getattr(kind, "describe", None)
        return describe(self) if describe is not None else self.label

    @property
    def unit_display(self):
        """The unit in the reader's language (the stored ``unit`` is a code: rows, pages...)."""
        return UNIT_LABELS.get(self.unit, self.unit)

    @property
    def is_active(self):
        return self.status in (JobFileStatus.QUEUED, JobFileStatus.RUNNING)

    @property
    def percent(self):
        if self.status == JobFileStatus.DONE:
            return 100
        if not self.total:
            return 0
        return min(100, int(self.done * 100 / self.total))
