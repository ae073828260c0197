from django.db import models


class ScheduledRun(models.Model):
    """One periodic job enqueued for one slot (``jobs.schedules``): the unique pair is
    what keeps two schedulers, or a restarted one, from enqueuing the same slot twice."""

    name = models.CharField(max_length=100)
    slot = models.DateTimeField(help_text="The start of the slot (UTC).")
    enqueued_at = models.DateTimeField(auto_now_add=True)
    task_id = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-slot", "name"]
        constraints = [models.UniqueConstraint(fields=["name", "slot"], name="jobs_scheduledrun_once_per_slot")]

    def __str__(self):
        return f"{self.name} @ {self.slot.isoformat()}"
