"""Writes of the notifications app: notices created once per recipient, event and
stage (the database's unique key), their in-app reading, the preferences.

The content of every notice names a patient by subject id only: never a name,
initials or a birth date (``tests/notifications`` assert it).
"""

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from accounts.models import Membership
from accounts.roles import Role
from core.validation import raise_violations
from oversight.models import AccessEvent, AccessKind
from safety.rules import SERIOUSNESS_CRITERIA

from . import rules, texts
from .models import EmailState, Notice, NotificationPreference, email_on_of
from .rules import Kind


@dataclass(frozen=True)
class Recipient:
    user: object = None  # a User, or None for an address of SAE_NOTIFY_EMAILS
    address: str = ""
    is_monitor: bool = False

    @property
    def key(self):
        return f"user:{self.user.pk}" if self.user is not None else f"address:{self.address.lower()}"


# --- Recipients -----------------------------------------------------------------

def _users(q):
    """Active users holding a membership matching ``q``, each once, with whether they are
    a monitor (their SAE e-mails cannot be turned off) and their preferences."""
    User = get_user_model()
    memberships = Membership.objects.filter(q, user__is_active=True).values_list("user_id", "role")
    roles = {}
    for user_id, role in memberships:
        roles.setdefault(user_id, set()).add(role)
    monitors = set(Membership.objects.filter(user_id__in=roles, role=Role.MONITOR).values_list("user_id", flat=True))
    # The profile too: the language of each recipient's e-mail (accounts.languages.language_of), no query each.
    users = User.objects.filter(pk__in=roles).select_related("notification_preference", "profile").order_by("pk")
    return [Recipient(user=u, address=u.email or "", is_monitor=u.pk in monitors) for u in users]


def sae_recipients(site_id):
    """The investigators of the patient's site, the monitors, the admins (active users),
    and the pharmacovigilance addresses of ``SAE_NOTIFY_EMAILS``."""
    users = _users(Q(role=Role.INVESTIGATOR, site_id=site_id) | Q(role__in=[Role.MONITOR, Role.ADMIN]))
    known = {r.address.lower() for r in users if r.address}
    extra = [Recipient(address=a) for a in settings.SAE_NOTIFY_EMAILS if a.lower() not in known]
    return users + extra


def query_raised_recipients(site_id):
    """The site's staff who answer it: its clinicians and investigators."""
    return _users(Q(role__in=[Role.CLINICIAN, Role.INVESTIGATOR], site_id=site_id))


def query_answered_recipients(query):
    """The monitor who raised the query; the monitors when that user is gone."""
    raiser = _users(Q(user_id=query.raised_by_id))
    return raiser or _users(Q(role=Role.MONITOR))


# --- Notices ---------------------------------------------------------------------

def _email_state(recipient, kind):
    if recipient.user is None:
        return EmailState.PENDING if recipient.address else EmailState.NONE
    preference = getattr(recipient.user, "notification_preference", None)
    wanted = rules.email_wanted(kind=kind, email_on=email_on_of(preference), is_monitor=recipient.is_monitor,
                                has_address=bool(recipient.address))
    return EmailState.PENDING if wanted else EmailState.NONE


def notices_create(*, kind, about_type, about_id, stage, recipients, params, link, now=None):
    """One notice per recipient for this event and stage, unless it exists already (a
    retried or restarted job, two workers): the unique key decides, in the database.
    ``params`` (codes, ISO dates, the event's own words) are stored with the notice, and
    its subject and body in the source language (``texts.render_neutral``); the e-mail and
    the in-app list are written from them in the reader's language (``texts.render``).
    A new notice that goes to nobody by e-mail is recorded in the audit trail at once;
    the others when their e-mail is sent (:mod:`notifications.delivery`). Returns the
    notices of this event and stage (new or not)."""
    now = now or timezone.now()
    subject, body = texts.render_neutral(kind, params)
    for recipient in recipients:
        state = _email_state(recipient, kind)
        try:
            with transaction.atomic():
                notice = Notice.objects.create(
                    user=recipient.user, address=recipient.address if state == EmailState.PENDING else "",
                    recipient_key=recipient.key, kind=kind, about_type=about_type, about_id=about_id, stage=stage,
                    subject=subject[:200], body=body, params=params, link=link, created_at=now, email_state=state,
                    email_result="" if state == EmailState.PENDING else
                    ("no e-mail address" if not recipient.address else "e-mail turned off by the recipient"))
        except IntegrityError:
            continue  # made already
        if state == EmailState.NONE:
            notice_audit(notice, delivery="in-app")
    return list(Notice.objects.filter(kind=kind, about_type=about_type, about_id=about_id, stage=stage)
                .select_related("user").order_by("pk"))


def notice_audit(notice, *, delivery, error=""):
    """The access event of a notice sent: to whom, what, when, the delivery result."""
    detail = {"notice": notice.pk, "to": notice.recipient_label, "address": notice.address,
              "kind": notice.kind, "about": notice.about, "stage": notice.stage, "delivery": delivery}
    if error:
        detail["error"] = error[:500]
    return AccessEvent.objects.record(kind=AccessKind.NOTICE_SENT, user=notice.user,
                                      username="" if notice.user_id else notice.address, detail=detail)


def absolute(link):
    return f"{settings.SITE_URL.rstrip('/')}{link}" if link else ""


def _iso(value):
    return value.isoformat() if value else None


# --- Serious adverse events ------------------------------------------------------------

ADVERSE_EVENT = "safety.adverseevent"


def sae_stage(event):
    """The report of a serious event: a new one if it becomes serious again after a downgrade."""
    return f"report@{int(event.sae_entered_at.timestamp())}" if event.sae_entered_at else "report"


def _sae_params(event, *, stage=None):
    """What the text of a serious event's notice says (``texts``): codes and ISO values."""
    site = event.patient.site
    return {"subject_id": event.patient.subject_id, "site": site.code, "zone": site.time_zone,
            "term": event.term, "grade": event.grade,
            "criteria": [name for name, _label in SERIOUSNESS_CRITERIA if getattr(event, name)],
            "onset": _iso(event.onset_date), "aware_at": _iso(event.aware_at), "due_at": _iso(event.report_due_at),
            "url": absolute(reverse("oversight:ae_detail", args=[event.pk])), "stage": stage}


def sae_notices_create(event, *, now=None):
    """The notices of a serious event's report (nothing for a non-serious or voided one)."""
    if not event.serious or event.voided_at is not None:
        return []
    return notices_create(
        kind=Kind.SAE, about_type=ADVERSE_EVENT, about_id=event.pk, stage=sae_stage(event),
        recipients=sae_recipients(event.patient.site_id), params=_sae_params(event),
        link=reverse("oversight:ae_detail", args=[event.pk]), now=now)


def escalation_stage(event, stage):
    """The stage key of an escalation (``12h``, ``20h``, ``late``) of this report of the event."""
    return f"{stage}@{sae_stage(event).split('@')[-1]}"


def escalations_made(event_ids):
    """``{(event id, stage key)}`` of the escalations already made (one query)."""
    return set(Notice.objects.filter(kind=Kind.SAE_ESCALATION, about_type=ADVERSE_EVENT, about_id__in=event_ids)
               .values_list("about_id", "stage").distinct())


def sae_escalation_notices_create(event, *, stage, now=None):
    return notices_create(
        kind=Kind.SAE_ESCALATION, about_type=ADVERSE_EVENT, about_id=event.pk,
        stage=escalation_stage(event, stage), recipients=sae_recipients(event.patient.site_id),
        params=_sae_params(event, stage=stage), link=reverse("oversight:ae_detail", args=[event.pk]), now=now)


# --- Data queries ----------------------------------------------------------------------

QUERY_MESSAGE = "review.dataquerymessage"


def query_notices_create(message, *, now=None):
    """The notice of a question (to the site's staff) or an answer (to the monitor who
    asked), about one message of the thread."""
    query = message.query
    patient = query.patient
    target = query.record_label + (f" / {query.field_label}" if query.field_label else "")
    if message.kind == "question":
        kind, recipients = Kind.QUERY_RAISED, query_raised_recipients(patient.site_id)
    else:
        kind, recipients = Kind.QUERY_ANSWERED, query_answered_recipients(query)
    link = reverse("oversight:query_detail", args=[query.pk])
    # The record's and the field's labels as the query stored them; the message as written.
    params = {"subject_id": patient.subject_id, "target": target, "text": message.text, "url": absolute(link)}
    return notices_create(kind=kind, about_type=QUERY_MESSAGE, about_id=message.pk, stage="",
                          recipients=recipients, params=params, link=link, now=now)


# --- In-app reading and preferences ------------------------------------------------------

def notices_mark_read(*, user, notice=None, now=None):
    """Mark one of the user's notices read, or all of them (``notice`` None)."""
    qs = Notice.objects.for_user(user).unread()
    if notice is not None:
        qs = qs.filter(pk=notice.pk)
    return qs.update(read_at=now or timezone.now())


def preference_save(*, user, email_sae: bool, email_query: bool, email_digest: bool):
    """Store the user's e-mail switches; a monitor's SAE switch stays on (field error)."""
    from accounts.scoping import access_for

    email_on = {rules.Preference.SAE: email_sae, rules.Preference.QUERY: email_query,
                rules.Preference.DIGEST: email_digest}
    raise_violations(rules.preference_violations(
        email_on=email_on, is_monitor=Role.MONITOR.value in access_for(user).roles))
    preference, _ = NotificationPreference.objects.update_or_create(
        user=user, defaults={"email_sae": email_sae, "email_query": email_query, "email_digest": email_digest})
    return preference

