"""The notification jobs. Each is idempotent: the notices' unique key (recipient,
kind, event, stage) means a retried, restarted or doubled job creates nothing
twice, and :func:`notifications.delivery.deliver` sends each e-mail at most once.

They run with ``atomic=False``: the notices are created in one transaction of
their own, committed before any e-mail is sent, and each e-mail's claim and result
are committed around the send (see :mod:`notifications.delivery`).
"""

from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from accounts.models import Membership
from jobs.base import job
from review.models import DataQueryMessage
from safety.models import AdverseEvent

from . import rules, services
from .delivery import deliver, mark_stale_sending, orphaned_pending
from .digest import OVERDUE_ROLES, SIGNING_ROLES, digest_for, digest_params
from .models import EmailState
from .rules import Kind

RETRY_DELAY = timedelta(minutes=2)


def _pending(notices):
    return [n.pk for n in notices if n.email_state in (EmailState.PENDING, EmailState.FAILED)]


@job(max_attempts=5, retry_delay=RETRY_DELAY, atomic=False)
def notify_sae(event_id):
    """The notices of a serious adverse event, enqueued in the transaction that stored it."""
    with transaction.atomic():
        event = AdverseEvent.objects.select_related("patient__site").filter(pk=event_id).first()
        notices = services.sae_notices_create(event) if event is not None else []
    return {"sent": deliver(_pending(notices))}


@job(max_attempts=5, retry_delay=RETRY_DELAY, atomic=False)
def notify_query(message_id):
    """The notice of a data query raised or answered (one message of its thread)."""
    with transaction.atomic():
        message = (DataQueryMessage.objects.select_related("query__patient__site")
                   .filter(pk=message_id).first())
        notices = services.query_notices_create(message) if message is not None else []
    return {"sent": deliver(_pending(notices))}


def escalate(*, now):
    """Create the escalation notices every unreviewed serious event has reached at ``now``
    (``rules.escalation_stages``); returns their ids."""
    first = min(rules.ESCALATION_AFTER)
    # Candidates only: the rule decides per event.
    events = (AdverseEvent.objects.awaiting_review().filter(aware_at__lte=now - first)
              .select_related("patient__site").order_by("pk"))
    made = services.escalations_made([e.pk for e in events])
    ids = []
    for event in events:
        reached = rules.escalation_stages(aware_at=event.aware_at, now=now, reviewed=event.reviewed_at is not None)
        sent = {stage for stage in reached if (event.pk, services.escalation_stage(event, stage)) in made}
        stage = rules.escalation_to_send(reached=reached, sent=sent)
        if stage is None:
            continue
        with transaction.atomic():
            ids += _pending(services.sae_escalation_notices_create(event, stage=stage, now=now))
    return ids


@job(max_attempts=3, retry_delay=RETRY_DELAY, atomic=False)
def check_sae_clocks(slot=None):
    """Periodic (notifications/schedules.py): escalate unreviewed serious events at 12 and
    20 hours and when late; send the notices a dead job left unsent; those a dead worker
    left "sending" become "unknown" (never sent twice)."""
    now = timezone.now()
    mark_stale_sending(now=now)
    return {"sent": deliver(orphaned_pending(now=now) + escalate(now=now))}


def digest_users():
    roles = OVERDUE_ROLES | SIGNING_ROLES
    user_ids = Membership.objects.filter(role__in=roles, user__is_active=True).values("user_id")
    return (get_user_model().objects.filter(pk__in=user_ids).select_related("notification_preference", "profile")
            .order_by("pk"))


def send_digest(user, *, today, now=None):
    """One user's digest of ``today``: nothing when there is nothing to say; at most one
    per user and day (the stage is the date)."""
    overdue_count, overdue, unsigned_count, unsigned = digest_for(user, today=today)
    params = digest_params(today=today, overdue_count=overdue_count, overdue=overdue,
                           unsigned_count=unsigned_count, unsigned=unsigned)
    if not params:
        return []
    recipient = services.Recipient(user=user, address=user.email or "")
    return services.notices_create(kind=Kind.DIGEST, about_type="digest", about_id=0, stage=today.isoformat(),
                                   recipients=[recipient], params=params,
                                   link=reverse("oversight:dashboard"), now=now)


@job(max_attempts=3, retry_delay=RETRY_DELAY, atomic=False)
def send_digests(slot=None):
    """Daily (notifications/schedules.py): each user's digest of the slot's local date."""
    today = timezone.localdate(datetime.fromisoformat(slot)) if slot else timezone.localdate()
    ids = []
    for user in digest_users():
        with transaction.atomic():
            ids += [n.pk for n in send_digest(user, today=today) if n.user_id == user.pk
                    and n.email_state in (EmailState.PENDING, EmailState.FAILED)]
    return {"sent": deliver(ids)}

