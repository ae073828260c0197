from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class ExportLog(models.Model):
    """Who exported what, when, with which filters and how many rows.

    Written before the file streams out; rows are never changed or deleted
    through the app."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True,
                             blank=True, related_name="+",
                             help_text=_("Empty for exports run from the command line."))
    at = models.DateTimeField(auto_now_add=True)
    format = models.CharField(max_length=10)
    filters = models.JSONField(default=dict, blank=True)
    row_counts = models.JSONField(default=dict, blank=True)
    channel = models.CharField(max_length=10, default="web", help_text=_("web or command line"))

    class Meta:
        ordering = ["-at", "-pk"]
        # Stored in auth_permission (by migrate): plain text, never translated at store time.
        permissions = [
            ("view_report", "Can read the outcome report"),
            ("export_cohort", "Can export the cohort"),
        ]

    def __str__(self):
        return f"{self.format} export by {self.user or 'command line'} at {self.at:%Y-%m-%d %H:%M}"
