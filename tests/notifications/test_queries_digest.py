"""Data-query notices (raised: to the site's staff; answered: to the monitor who
asked), the daily digest (overdue cycles, cycles awaiting one's signature; one per
user and day, nothing when there is nothing to say), and the preferences."""

from datetime import date, timedelta

import pytest
from django.utils import timezone

from jobs.schedules import SCHEDULES, enqueue_due
from jobs.worker import run_pending
from notifications.models import EmailState, Notice, NotificationPreference
from notifications.rules import Kind
from patients.models import Patient
from review import services as review_services
from tests.conftest import _user_with_role
from tests.patients.factories import PatientFactory
from tests.visits.factories import CycleFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(site_a, site_b):
    def user(role, site, name, email=True):
        u = _user_with_role(role, site, username=name)
        u.email = f"{name}@example.org" if email else ""
        u.save()
        return u
    return {"clinician": user("clinician", site_a, "clin-a"), "investigator": user("investigator", site_a, "inv-a"),
            "clinician_b": user("clinician", site_b, "clin-b"), "monitor": user("monitor", None, "mon"),
            "monitor2": user("monitor", None, "mon2"), "coordinator": user("coordinator", None, "coord")}


@pytest.fixture
def patient(site_a):
    return PatientFactory(site=site_a, subject_id="01-003", birth_year=1951, birth_date=date(1951, 2, 3))


def test_a_query_raised_goes_to_the_site_and_its_answer_to_the_monitor_who_asked(smtp, staff, patient):
    query = review_services.query_raise(record=patient, field_name="enrolment_date", field_label="Enrolment date",
                                        record_label="Patient 01-003", question="Is the enrolment date right?",
                                        user=staff["monitor"])
    run_pending()
    assert smtp.recipients() == ["clin-a@example.org", "inv-a@example.org"]
    assert all("Is the enrolment date right?" in text and "01-003" in text for _, text in smtp.messages)
    assert all("1951" not in text.split("\r\n\r\n", 1)[1] for _, text in smtp.messages)
    review_services.query_answer(query=query, user=staff["clinician"], text="Yes, checked against the notes.")
    run_pending()
    assert smtp.recipients()[2:] == ["mon@example.org"]  # the monitor who raised it, not every monitor
    assert "Yes, checked against the notes." in smtp.messages[-1][1]
    run_pending()  # a restarted worker
    assert len(smtp.messages) == 3
    assert set(Notice.objects.values_list("kind", flat=True)) == {Kind.QUERY_RAISED, Kind.QUERY_ANSWERED}


def test_preferences_are_respected_in_app_always(smtp, staff, patient):
    NotificationPreference.objects.create(user=staff["clinician"], email_query=False)
    review_services.query_raise(record=patient, field_name="", field_label="", record_label="Patient 01-003",
                                question="Consent form filed?", user=staff["monitor"])
    run_pending()
    assert smtp.recipients() == ["inv-a@example.org"]
    notice = Notice.objects.get(user=staff["clinician"])
    assert notice.email_state == EmailState.NONE and notice.email_result == "e-mail turned off by the recipient"


def _overdue(patient, today):
    # The stored next-cycle window (what visits.services stores): closed three days ago.
    Patient.objects.filter(pk=patient.pk).update(
        next_cycle_planned_date=today - timedelta(days=10), next_cycle_window_start_date=today - timedelta(days=17),
        next_cycle_window_end_date=today - timedelta(days=3))


def run_digest(now):
    enqueue_due(now, {"d": SCHEDULES["notifications.digest"]})
    return run_pending()


def test_the_daily_digest(smtp, staff, patient, site_b, monkeypatch):
    today = timezone.localdate()
    _overdue(patient, today)
    _overdue(PatientFactory(site=site_b, subject_id="02-001"), today)
    CycleFactory(patient=patient, number=1)  # not signed
    run_digest(timezone.now())
    by_user = {rcpts[0]: text for rcpts, text in smtp.messages}
    # Site A's clinician: its overdue patient only; the investigator: that and the cycle to sign;
    # site B's clinician: its own; monitors and coordinators get no digest.
    assert sorted(by_user) == ["clin-a@example.org", "clin-b@example.org", "inv-a@example.org"]
    assert "01-003" in by_user["clin-a@example.org"] and "02-001" not in by_user["clin-a@example.org"]
    assert "to sign" not in by_user["clin-a@example.org"].split("\r\n\r\n", 1)[1]
    assert "01-003: cycle 1" in by_user["inv-a@example.org"]
    assert "Cycles awaiting your signature: 1" in by_user["inv-a@example.org"]
    assert "02-001" in by_user["clin-b@example.org"]
    # The same day again (another scheduler, a restart): nothing more.
    run_pending()
    Notice.objects.filter(kind=Kind.DIGEST).update(email_state=EmailState.SENT)
    from jobs.models import ScheduledRun
    from notifications.tasks import send_digests
    # The same slot as the scheduler's (before 07:00 in the study's zone that slot is
    # yesterday's: a call without it would be another day's digest).
    send_digests.call(slot=ScheduledRun.objects.latest("enqueued_at").slot.isoformat())
    assert len(smtp.messages) == 3


def test_no_digest_when_there_is_nothing_to_say(smtp, staff, patient):
    today = timezone.localdate()
    Patient.objects.filter(pk=patient.pk).update(  # the next window still open
        next_cycle_window_start_date=today - timedelta(days=2), next_cycle_window_end_date=today + timedelta(days=5))
    run_digest(timezone.now())
    assert smtp.messages == [] and not Notice.objects.filter(kind=Kind.DIGEST).exists()


def test_a_digest_turned_off_stays_in_the_app(smtp, staff, patient):
    _overdue(patient, timezone.localdate())
    NotificationPreference.objects.create(user=staff["clinician"], email_digest=False)
    run_digest(timezone.now())
    assert "clin-a@example.org" not in smtp.recipients()
    assert Notice.objects.get(kind=Kind.DIGEST, user=staff["clinician"]).email_state == EmailState.NONE
