"""Sending a notice's e-mail: at most once, whatever happens to the worker, in the
recipient's language (their profile's; the study's default for an address of
``SAE_NOTIFY_EMAILS``), written from the notice's parameters (``notifications.texts``).

E-mail is not transactional: once the SMTP server has accepted a message no
rollback takes it back. So each notice is sent in three steps, each committed
on its own (the sending jobs run with ``atomic=False``):

1. claim: ``pending`` (or ``failed``) -> ``sending``, one conditional UPDATE; only
   one worker wins it, and a notice already ``sent`` or ``sending`` is never
   claimed again (a retried job, a restarted worker, a second worker);
2. send, through Django's e-mail framework (``EMAIL_URL`` / ``EMAIL_*``);
3. record the result: ``sent``, or ``failed`` with the error (a failed notice is
   claimed again by the job's next attempt: the server refused it, so it was not
   delivered); either way an access event in the audit trail.

If the process dies before 1, the notice stays ``pending`` and the periodic check
(``check_sae_clocks``) sends it after ``PENDING_ORPHAN_AFTER``. If it dies between
1 and 3 (killed mid-send), the notice stays
``sending``: it is NOT sent again, since it may have been delivered. After
``SENDING_STALE_AFTER`` the periodic check marks it ``unknown`` with that
explanation, for the admin to read (Django admin, Notifications): at most once,
never twice.
"""

from datetime import timedelta

from django.conf import settings
from django.core.mail import EmailMessage
from django.db.models import F
from django.utils import timezone, translation

from accounts.languages import language_of

from .models import EmailState, Notice
from .services import notice_audit
from .texts import text_of

#: A notice claimed this long ago and still "sending": its worker died mid-send.
SENDING_STALE_AFTER = timedelta(minutes=15)
#: A notice created this long ago and never claimed: the job that made it died before
#: sending (the worker killed between the two steps); the periodic check sends it.
PENDING_ORPHAN_AFTER = timedelta(minutes=5)


class DeliveryFailed(Exception):
    """Some e-mails of a job failed: the job is retried (only those are sent again)."""


def deliver(notice_ids):
    """Send the e-mail of each notice not sent yet; returns the number sent. Raises
    :class:`DeliveryFailed` after trying them all when any failed."""
    sent, errors = 0, []
    for pk in notice_ids:
        now = timezone.now()
        claimed = Notice.objects.filter(pk=pk, email_state__in=[EmailState.PENDING, EmailState.FAILED]).update(
            email_state=EmailState.SENDING, email_claimed_at=now, email_attempts=F("email_attempts") + 1)
        if not claimed:
            continue  # in-app only, sent already, or another worker has it
        notice = Notice.objects.select_related("user__profile").get(pk=pk)
        # In the recipient's language (a pharmacovigilance address, with no user: the study's).
        with translation.override(language_of(notice.user) if notice.user_id else settings.LANGUAGE_CODE):
            subject, body = text_of(notice)
        try:
            EmailMessage(subject=subject, body=body, from_email=settings.DEFAULT_FROM_EMAIL,
                         to=[notice.address]).send(fail_silently=False)
        except Exception as exc:  # noqa: BLE001 (any delivery error is recorded, then retried)
            error = f"{type(exc).__name__}: {exc}"[:1000]
            Notice.objects.filter(pk=pk).update(email_state=EmailState.FAILED, email_result=error)
            notice_audit(notice, delivery="failed", error=error)
            errors.append(f"notice {pk}: {error}")
            continue
        Notice.objects.filter(pk=pk).update(email_state=EmailState.SENT, email_sent_at=timezone.now(),
                                            email_result="")
        notice_audit(notice, delivery="sent")
        sent += 1
    if errors:
        raise DeliveryFailed("; ".join(errors))
    return sent


def orphaned_pending(*, now=None):
    """Ids of the notices never claimed since ``PENDING_ORPHAN_AFTER``: safe to send, as the
    claim decides who sends (a late original job finds them claimed)."""
    now = now or timezone.now()
    return list(Notice.objects.filter(email_state=EmailState.PENDING, created_at__lt=now - PENDING_ORPHAN_AFTER)
                .order_by("pk").values_list("pk", flat=True))


def mark_stale_sending(*, now=None):
    """Notices whose worker died mid-send: ``unknown``, never sent again."""
    now = now or timezone.now()
    return Notice.objects.filter(email_state=EmailState.SENDING,
                                 email_claimed_at__lt=now - SENDING_STALE_AFTER).update(
        email_state=EmailState.UNKNOWN,
        email_result="The worker stopped while sending: it may have been delivered, so it is not sent again.")
