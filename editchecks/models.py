"""What the edit checks keep besides their data queries (``review.DataQuery.check_id``):
which checks an administrator switched off (with history: who, when, why) and the log of
the cohort runs (the nightly job, the command)."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from simple_history.models import HistoricalRecords

from core.validation import CleanTextModel


class EditCheckSetting(CleanTextModel, models.Model):
    """An administrator's switch of one check (``editchecks.checks``), with the reason. A check
    without a row is on. Every switch is a change of this row, so its history rows (the audit
    trail) hold each switch: the user, the time and the reason."""

    check_id = models.CharField(_("edit check"), max_length=10, unique=True)
    enabled = models.BooleanField(_("switched on"), default=True)
    reason = models.TextField(_("reason"))
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                                   verbose_name=_("changed by"))
    changed_at = models.DateTimeField(_("changed at"), default=timezone.now)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("edit check setting")
        verbose_name_plural = _("edit check settings")
        ordering = ["check_id"]

    def __str__(self):
        return f"{self.check_id} {'on' if self.enabled else 'off'}"


class RunTrigger(models.TextChoices):
    NIGHTLY = "nightly", pgettext_lazy("edit check run", "Nightly")
    COMMAND = "command", pgettext_lazy("edit check run", "Command")
    SWITCHED_ON = "switched_on", pgettext_lazy("edit check run", "Switched on")


class EditCheckRun(models.Model):
    """One run of the checks over the whole cohort: when, why, and per check what it found
    (``results``: check id -> {"failing", "raised", "closed"}, or {"skipped": true} for a check
    switched off). A run that did not finish keeps ``finished_at`` empty."""

    trigger = models.CharField(_("trigger"), max_length=12, choices=RunTrigger.choices)
    started_at = models.DateTimeField(_("started at"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    patients = models.PositiveIntegerField(_("patients checked"), default=0)
    results = models.JSONField(_("results"), default=dict, blank=True)

    class Meta:
        verbose_name = _("edit check run")
        verbose_name_plural = _("edit check runs")
        ordering = ["-started_at", "-pk"]
        indexes = [models.Index(fields=["trigger", "-started_at"], name="editcheckrun_trigger_idx")]

    def __str__(self):
        return f"{self.trigger} {self.started_at:%Y-%m-%d %H:%M} UTC"
