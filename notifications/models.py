"""A notice to one recipient about one event, and each user's e-mail preferences.

A notice is kept for the recipient's in-app list (a user) and, when it goes out
by e-mail, carries its delivery state. The unique key (recipient, kind, the
event it is about, stage) is what makes every job that creates notices
idempotent: a retried or restarted job finds the notice it made and never sends
it twice (see :mod:`notifications.delivery` for the e-mail itself).
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from .rules import Kind, Preference


class EmailState(models.TextChoices):
    NONE = "none", _("In-app only")  # no address, or the recipient's preference
    PENDING = "pending", _("To send")
    SENDING = "sending", _("Being sent")  # claimed by a worker (committed before the send)
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")
    UNKNOWN = "unknown", _("Unknown (the worker stopped while sending; not re-sent)")


class NoticeQuerySet(models.QuerySet):
    def for_user(self, user):
        return self.filter(user=user)

    def unread(self):
        return self.filter(read_at__isnull=True)


class Notice(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                             related_name="notices",
                             help_text=_("Empty for a pharmacovigilance address (SAE_NOTIFY_EMAILS)."))
    address = models.EmailField(blank=True, help_text=_("Where the e-mail goes (empty: in-app only)."))
    recipient_key = models.CharField(max_length=260, editable=False,
                                     help_text=_("user:<id> or address:<e-mail>: the recipient in the unique key."))
    kind = models.CharField(max_length=20, choices=Kind.choices)
    about_type = models.CharField(max_length=60, help_text=_("The event's model (app_label.model), or 'digest'."))
    about_id = models.PositiveBigIntegerField(help_text=_("The event's id (0 for a digest)."))
    stage = models.CharField(max_length=60, blank=True,
                             help_text=_("Which notice about that event: the report, 12h, 20h, late, a date."))
    # The record, in the source language; the e-mail and the in-app list are written from
    # ``params`` in the reader's language (notifications.texts).
    subject = models.CharField(max_length=200)
    body = models.TextField()
    params = models.JSONField(default=dict, blank=True,
                              help_text=_("What the notice says, as codes and ISO values: its text in "
                                          "each reader's language is written from them."))
    link = models.CharField(max_length=300, blank=True, help_text=_("The page to act on (a path on this site)."))
    created_at = models.DateTimeField()
    read_at = models.DateTimeField(null=True, blank=True)
    email_state = models.CharField(max_length=10, choices=EmailState.choices, default=EmailState.NONE)
    email_result = models.TextField(blank=True, help_text=_("The delivery's error, or why it was not sent."))
    email_attempts = models.PositiveSmallIntegerField(default=0)
    email_claimed_at = models.DateTimeField(null=True, blank=True)
    email_sent_at = models.DateTimeField(null=True, blank=True)

    objects = NoticeQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["recipient_key", "kind", "about_type", "about_id", "stage"],
                                    name="notice_once_per_recipient_event_stage"),
            models.CheckConstraint(condition=Q(user__isnull=False) | ~Q(address=""),
                                   name="notice_has_a_recipient"),
        ]
        indexes = [models.Index(fields=["user", "read_at"], name="notice_user_unread"),
                   models.Index(fields=["kind", "about_type", "about_id"], name="notice_about"),
                   models.Index(fields=["email_state"], name="notice_email_state")]

    def __str__(self):
        return f"{self.get_kind_display()} to {self.recipient_label}: {self.subject}"

    @property
    def text(self):
        """``(subject, body)`` in the active language (``notifications.texts``)."""
        from .texts import text_of

        return text_of(self)

    @property
    def recipient_label(self):
        return self.user.get_username() if self.user_id else self.address

    @property
    def about(self):
        return f"{self.about_type}:{self.about_id}"


class NotificationPreference(models.Model):
    """A user's e-mail switches, one per :class:`~notifications.rules.Preference`
    (no row: every switch on)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                related_name="notification_preference")
    email_sae = models.BooleanField(Preference.SAE.label, default=True)
    email_query = models.BooleanField(Preference.QUERY.label, default=True)
    email_digest = models.BooleanField(Preference.DIGEST.label, default=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"E-mail preferences of {self.user}"

    def email_on(self) -> dict:
        return {preference: getattr(self, f"email_{preference}") for preference in Preference}


def email_on_of(preference) -> dict:
    """The switches of a stored preference row, or every switch on."""
    return preference.email_on() if preference is not None else {p: True for p in Preference}
