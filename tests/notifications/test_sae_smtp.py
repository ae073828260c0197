"""Issue 15, "done when": a real SMTP server on 127.0.0.1 receives the serious
adverse event notice within one worker cycle, the escalations at 12 and 20 hours
(and the late one past 24) with time moved, never slept, and no duplicate after a
worker restart or a job retried after a failure. No patient identifier but the
subject id in any message."""

import re
from datetime import date, timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from jobs.schedules import SCHEDULES, enqueue_due
from jobs.worker import run_pending
from notifications.models import EmailState, Notice
from notifications.rules import Kind
from oversight.models import AccessEvent, AccessKind
from safety import services as safety_services
from safety.models import AdverseEvent
from tests.conftest import _user_with_role
from tests.patients.factories import PatientFactory

pytestmark = pytest.mark.django_db

BIRTH_DATE = date(1943, 7, 19)
PV = "pharmacovigilance@sponsor.example"


@pytest.fixture
def clock(monkeypatch):
    """``timezone.now`` moved by the test (the jobs, the worker and the scheduler read it)."""
    real_now = timezone.now

    class Clock:
        at = None

        def set(self, when):
            self.at = when
            monkeypatch.setattr(timezone, "now", lambda: self.at)

        def real(self):
            return real_now()
    return Clock()


@pytest.fixture
def people(site_a, site_b, settings):
    settings.SAE_NOTIFY_EMAILS = [PV]

    def user(role, site, name, email=True, active=True):
        u = _user_with_role(role, site, username=name)
        u.email = f"{name}@example.org" if email else ""
        u.is_active = active
        u.save()
        return u
    return {
        "investigator": user("investigator", site_a, "inv-a"),
        "clinician": user("clinician", site_a, "clin-a"),
        "investigator_b": user("investigator", site_b, "inv-b"),
        "monitor": user("monitor", None, "mon"),
        "admin": user("admin", None, "adm"),
        "monitor_gone": user("monitor", None, "mon-gone", active=False),
        "monitor_no_mail": user("monitor", None, "mon-nomail", email=False),
    }


SAE_TO = ["adm@example.org", "inv-a@example.org", "mon@example.org", PV]


@pytest.fixture
def patient(site_a):
    return PatientFactory(site=site_a, subject_id="01-007", birth_year=1943, birth_date=BIRTH_DATE)


def enter_sae(patient, user, aware_at, **overrides):
    fields = dict(patient=patient, term="Aseptic meningitis", onset_date=timezone.localdate(aware_at) - timedelta(days=1),
                  grade=3, serious=True, serious_hospitalisation=True, relatedness="possible",
                  outcome="recovering", aware_at=aware_at)
    fields.update(overrides)
    return safety_services.adverse_event_save(event=AdverseEvent(**fields), user=user)


def assert_no_identifier(text):
    """Nothing but the subject id: the birth date and year in no form (the patient has no
    name field; a name would have to come from somewhere, and nothing else is printed)."""
    for forbidden in (BIRTH_DATE.isoformat(), r"\b1943\b", "19/07/1943", "Jul. 19, 1943", "birth"):
        assert not re.search(forbidden, text), forbidden


def run_clock_check(now):
    """One scheduler tick (only the SAE clock's schedule) and one worker cycle."""
    enqueue_due(now, {"sae": SCHEDULES["notifications.sae_clocks"]})
    return run_pending()


@pytest.mark.req("URS-INC-003")
def test_the_sae_notice_escalations_and_no_duplicates(smtp, people, patient, clock):
    t0 = clock.real() - timedelta(minutes=5)
    event = enter_sae(patient, people["clinician"], aware_at=t0)
    assert smtp.messages == []  # nothing before the worker runs

    run_pending()  # one worker cycle
    assert smtp.recipients() == SAE_TO
    for _, text in smtp.messages:
        assert "01-007" in text and "Aseptic meningitis" in text
        assert "requires or prolongs hospitalisation" in text
        assert "Review due at" in text and f"/oversight/adverse-events/{event.pk}/" in text
        assert_no_identifier(text)
    # In-app too, for the users (the monitor without an address gets it in the app only).
    notices = Notice.objects.filter(kind=Kind.SAE, about_id=event.pk)
    assert sorted(n.recipient_label for n in notices) == sorted(["adm", "inv-a", "mon", "mon-nomail", PV])
    assert notices.get(user=people["monitor_no_mail"]).email_state == EmailState.NONE
    # Every notice sent is an access event: to whom, what, the result.
    audit = AccessEvent.objects.filter(kind=AccessKind.NOTICE_SENT)
    assert audit.count() == 5
    sent = audit.get(user=people["monitor"]).detail
    assert sent["delivery"] == "sent" and sent["kind"] == "sae" and sent["about"] == f"safety.adverseevent:{event.pk}"

    # A worker restart, a correction of the event, the scheduler: no second SAE notice.
    run_pending()
    safety_services.adverse_event_save(event=AdverseEvent.objects.get(pk=event.pk), user=people["clinician"],
                                       reason="Term corrected", )
    run_pending()
    assert len(smtp.messages) == 4

    # Escalations: nothing before 12 hours; at 12 and at 20 hours; late past 24.
    clock.set(t0 + timedelta(hours=11, minutes=59))
    run_clock_check(clock.at)
    assert len(smtp.messages) == 4
    # The check runs every 5 minutes (one slot each): the escalation comes within one slot.
    clock.set(t0 + timedelta(hours=12, minutes=5))
    run_clock_check(clock.at)
    assert len(smtp.messages) == 8
    assert all("still unreviewed (12h)" in text for _, text in smtp.messages[4:])
    # The next slot, another scheduler, a restarted worker: the 12-hour escalation once.
    for minutes in (6, 12):
        clock.set(t0 + timedelta(hours=12, minutes=minutes))
        run_clock_check(clock.at)
    run_pending()
    assert len(smtp.messages) == 8
    clock.set(t0 + timedelta(hours=20, minutes=2))
    run_clock_check(clock.at)
    assert len(smtp.messages) == 12 and all("(20h)" in text for _, text in smtp.messages[8:])
    clock.set(t0 + timedelta(hours=24, minutes=3))
    run_clock_check(clock.at)
    assert len(smtp.messages) == 16 and all("LATE" in text for _, text in smtp.messages[12:])
    clock.set(t0 + timedelta(hours=30))
    run_clock_check(clock.at)
    assert len(smtp.messages) == 16
    assert sorted(smtp.recipients()) == sorted(SAE_TO * 4)
    for _, text in smtp.messages:
        assert_no_identifier(text)


def test_a_check_after_a_long_downtime_sends_the_latest_escalation_only(smtp, people, patient, clock):
    t0 = clock.real() - timedelta(minutes=5)
    enter_sae(patient, people["clinician"], aware_at=t0)
    run_pending()
    clock.set(t0 + timedelta(hours=26))  # no check ran for a day
    run_clock_check(clock.at)
    assert len(smtp.messages) == 8 and all("LATE" in text for _, text in smtp.messages[4:])
    clock.set(t0 + timedelta(hours=27))
    run_clock_check(clock.at)
    assert len(smtp.messages) == 8


@pytest.mark.req("URS-INC-003")
def test_a_reviewed_event_is_not_escalated(smtp, people, patient, clock):
    t0 = clock.real() - timedelta(minutes=30)
    event = enter_sae(patient, people["clinician"], aware_at=t0)
    run_pending()
    safety_services.adverse_event_review(adverse_event=event, user=people["monitor"], comment="Assessed.",
                                         reviewer_relatedness="possible")
    clock.set(t0 + timedelta(hours=21))
    run_clock_check(clock.at)
    assert len(smtp.messages) == 4  # the report only


@pytest.mark.req("URS-BCP-004")
def test_a_job_retried_after_a_failure_sends_only_what_failed(smtp, people, patient, clock):
    smtp.refuse.add("mon@example.org")
    t0 = clock.real() - timedelta(minutes=5)
    clock.set(clock.real())
    event = enter_sae(patient, people["clinician"], aware_at=t0)
    run_pending()
    assert smtp.recipients() == sorted(a for a in SAE_TO if a != "mon@example.org")
    failed = Notice.objects.get(kind=Kind.SAE, user=people["monitor"])
    assert failed.email_state == EmailState.FAILED and "SMTPRecipientsRefused" in failed.email_result
    audit = AccessEvent.objects.filter(kind=AccessKind.NOTICE_SENT, user=people["monitor"]).get()
    assert audit.detail["delivery"] == "failed" and "SMTPRecipientsRefused" in audit.detail["error"]
    assert sorted(DBTaskResult.objects.values_list("status", flat=True)) == ["FAILED", "READY"]  # retried later

    smtp.refuse.clear()
    clock.set(clock.at + timedelta(minutes=3))  # the retry's time has come
    run_pending()
    assert len(smtp.messages) == 4 and smtp.recipients() == SAE_TO  # the monitor's now, nobody's twice
    failed.refresh_from_db()
    assert failed.email_state == EmailState.SENT and failed.email_attempts == 2
    assert event.pk == failed.about_id


@pytest.mark.req("URS-BCP-004")
def test_a_notice_claimed_by_a_worker_that_died_is_never_sent_again(smtp, people, patient, clock):
    from notifications.delivery import deliver, mark_stale_sending

    t0 = clock.real() - timedelta(minutes=5)
    clock.set(clock.real())
    event = enter_sae(patient, people["clinician"], aware_at=t0)
    with transaction.atomic():
        from notifications.services import sae_notices_create
        notices = sae_notices_create(event)
    claimed = next(n for n in notices if n.user == people["monitor"])
    # The worker claimed it, then died during the SMTP conversation (nothing recorded after).
    Notice.objects.filter(pk=claimed.pk).update(email_state=EmailState.SENDING, email_claimed_at=clock.at)
    deliver([n.pk for n in notices])  # a restarted job
    assert "mon@example.org" not in smtp.recipients() and len(smtp.messages) == 3
    clock.set(clock.at + timedelta(minutes=16))
    assert mark_stale_sending() == 1
    claimed.refresh_from_db()
    assert claimed.email_state == EmailState.UNKNOWN and "not sent again" in claimed.email_result
    deliver([claimed.pk])
    assert len(smtp.messages) == 3


@pytest.mark.req("URS-BCP-004")
def test_notices_a_dead_job_left_unsent_go_out_with_the_next_check(smtp, people, patient, clock):
    from notifications.services import sae_notices_create

    t0 = clock.real() - timedelta(minutes=5)
    clock.set(clock.real())
    event = enter_sae(patient, people["clinician"], aware_at=t0)
    with transaction.atomic():
        sae_notices_create(event)  # the job made them, then its worker was killed
    DBTaskResult.objects.all().delete()  # and its row stays "running" forever: gone here
    run_clock_check(clock.at)
    assert smtp.messages == []  # not yet: the job may still be running
    clock.set(clock.at + timedelta(minutes=6))
    run_clock_check(clock.at)
    assert smtp.recipients() == SAE_TO
    clock.set(clock.at + timedelta(minutes=6))
    run_clock_check(clock.at)
    assert len(smtp.messages) == 4


@pytest.mark.req("URS-BCP-004")
def test_the_job_commits_with_the_event_and_not_without_it(people, patient):
    with pytest.raises(RuntimeError), transaction.atomic():
        enter_sae(patient, people["clinician"], aware_at=timezone.now() - timedelta(minutes=1))
        assert DBTaskResult.objects.count() == 1
        raise RuntimeError("the save fails after the hook")
    assert not DBTaskResult.objects.exists() and not AdverseEvent.objects.exists()
    # A non-serious event costs no job.
    enter_sae(patient, people["clinician"], aware_at=timezone.now() - timedelta(minutes=1), serious=False,
              serious_hospitalisation=False)
    assert not DBTaskResult.objects.exists()


@pytest.mark.req("URS-INC-003")
def test_an_event_that_becomes_serious_is_notified_then(smtp, people, patient):
    event = enter_sae(patient, people["clinician"], aware_at=timezone.now() - timedelta(hours=1), serious=False,
                      serious_hospitalisation=False)
    run_pending()
    assert smtp.messages == []
    event.serious, event.serious_hospitalisation = True, True
    safety_services.adverse_event_save(event=event, user=people["clinician"], reason="Hospitalised")
    run_pending()
    assert smtp.recipients() == SAE_TO
