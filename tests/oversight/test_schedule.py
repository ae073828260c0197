"""Issue 15: the due-and-overdue list and the per-user calendar feed (iCal)."""

from datetime import date, timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from icalendar import Calendar

from accounts.models import CalendarToken
from accounts.services import calendar_token_create, calendar_token_owner, calendar_tokens_revoke
from oversight.models import AccessEvent, AccessKind
from oversight.schedule import event_uid
from patients.models import Patient
from tests.patients.factories import PatientFactory
from tests.visits.factories import full_cycle
from visits.services import patient_schedule_refresh

pytestmark = pytest.mark.django_db


def _with_schedule(site, subject_id, *, window_end_days_ago, name="Jane Secretname"):
    """A patient whose stored next-cycle window closes ``window_end_days_ago`` days before
    today (negative: in the future), as the visits services store it."""
    patient = PatientFactory(site=site, subject_id=subject_id)
    full_cycle(patient)
    patient_schedule_refresh(patient_id=patient.pk, reason="Cycle entered")
    end = timezone.localdate() - timedelta(days=window_end_days_ago)
    Patient.objects.filter(pk=patient.pk).update(
        next_cycle_planned_date=end - timedelta(days=7), next_cycle_window_start_date=end - timedelta(days=14),
        next_cycle_window_end_date=end)
    return patient


@pytest.fixture
def cohort(site_a, site_b):
    return {
        "late_a": _with_schedule(site_a, "01-001", window_end_days_ago=5),
        "due_a": _with_schedule(site_a, "01-002", window_end_days_ago=-3),
        "later_a": _with_schedule(site_a, "01-003", window_end_days_ago=-30),
        "late_b": _with_schedule(site_b, "02-001", window_end_days_ago=12),
    }


def _subjects(response):
    return [p.subject_id for p in response.context["patients"]]


@pytest.mark.req("URS-PRT-013")
def test_the_list_has_the_overdue_then_the_due_of_the_user_s_sites(client_for, clinician, cohort):
    response = client_for(clinician).get(reverse("oversight:schedule_list"))
    assert response.status_code == 200
    assert _subjects(response) == ["01-001", "01-002"]  # most overdue first; 01-003 not yet; 02-001 not theirs
    late, due = response.context["patients"]
    assert (late.schedule.status, late.schedule.days_late) == ("overdue", 5)
    assert due.schedule.status == "due"
    assert late.last_start == date(2025, 3, 17)
    text = response.content.decode()
    assert reverse("visits:cycle_create", args=[late.pk]) in text
    assert reverse("visits:missedcycle_create", args=[late.pk]) in text
    assert "Secretname" not in text


@pytest.mark.parametrize("role", ["coordinator", "monitor", "admin_user"])
def test_study_wide_roles_see_all_sites_or_the_one_chosen(client_for, request, role, cohort, site_b):
    client = client_for(request.getfixturevalue(role))
    assert _subjects(client.get(reverse("oversight:schedule_list"))) == ["02-001", "01-001", "01-002"]
    assert _subjects(client.get(reverse("oversight:schedule_list"), {"site": site_b.pk})) == ["02-001"]
    assert _subjects(client.get(reverse("oversight:schedule_list"), {"status": "due"})) == ["01-002"]
    page = client.get(reverse("oversight:schedule_list"))
    assert "record missed cycle" in page.content.decode() if role == "admin_user" else \
        "record missed cycle" not in page.content.decode()


def test_a_site_user_cannot_filter_into_another_site(client_for, clinician, cohort, site_b):
    response = client_for(clinician).get(reverse("oversight:schedule_list"), {"site": site_b.pk})
    assert response.status_code == 200
    assert response.context["filter_errors"]
    assert "02-001" not in _subjects(response)


def test_the_list_reads_the_rule_s_judgement(client_for, monitor, cohort):
    """The SQL comparison of stored dates and ``schedule_state`` agree on every row."""
    from visits.rules import schedule_state

    today = timezone.localdate()
    listed = set(_subjects(client_for(monitor).get(reverse("oversight:schedule_list"))))
    for patient in Patient.objects.all():
        state = schedule_state(window_start=patient.next_cycle_window_start_date,
                               window_end=patient.next_cycle_window_end_date, today=today)
        assert (patient.subject_id in listed) == (state.status in ("overdue", "due"))


def test_the_dashboard_and_the_menu_link_the_list(client_for, clinician, cohort):
    client = client_for(clinician)
    assert reverse("oversight:schedule_list") in client.get(reverse("oversight:dashboard")).content.decode()


# --- the calendar feed --------------------------------------------------------------------------

def _feed(token):
    return Client().get(reverse("oversight:calendar_feed", args=[token]))


def test_the_feed_lists_the_planned_cycles_of_the_user_s_sites(clinician, cohort):
    _, token = calendar_token_create(user=clinician)
    response = _feed(token)
    assert response.status_code == 200 and response["Content-Type"].startswith("text/calendar")
    calendar = Calendar.from_ical(response.content)
    events = {str(e["UID"]): e for e in calendar.walk("VEVENT")}
    late = cohort["late_a"]
    assert set(events) == {event_uid(cohort[k].pk, 2) for k in ("late_a", "due_a", "later_a")}
    event = events[event_uid(late.pk, 2)]
    late.refresh_from_db()
    assert event.decoded("DTSTART") == late.next_cycle_planned_date  # all day: a date, not a datetime
    assert event.decoded("DTEND") == late.next_cycle_planned_date + timedelta(days=1)
    assert late.subject_id in str(event["SUMMARY"])
    assert f"{late.next_cycle_window_start_date:%Y-%m-%d} to {late.next_cycle_window_end_date:%Y-%m-%d}" in str(
        event["DESCRIPTION"])
    assert b"Secretname" not in response.content and b"Jane" not in response.content
    access = AccessEvent.objects.filter(kind=AccessKind.CALENDAR_FEED).get()
    assert (access.user, access.detail) == (clinician, {"events": 3})


def test_the_uid_is_stable_when_the_planned_date_moves(clinician, cohort):
    _, token = calendar_token_create(user=clinician)
    patient = cohort["late_a"]
    before = {str(e["UID"]) for e in Calendar.from_ical(_feed(token).content).walk("VEVENT")}
    Patient.objects.filter(pk=patient.pk).update(next_cycle_planned_date=timezone.localdate())
    after = Calendar.from_ical(_feed(token).content).walk("VEVENT")
    assert {str(e["UID"]) for e in after} == before
    moved = next(e for e in after if str(e["UID"]) == event_uid(patient.pk, 2))
    assert moved.decoded("DTSTART") == timezone.localdate()


def test_a_study_wide_user_gets_every_site(monitor, cohort):
    _, token = calendar_token_create(user=monitor)
    assert len(Calendar.from_ical(_feed(token).content).walk("VEVENT")) == 4


@pytest.mark.req("URS-DEV-003")
def test_only_the_digest_is_stored_and_revoke_and_regenerate(clinician, cohort):
    row, token = calendar_token_create(user=clinician)
    assert token not in row.digest and row.digest != token and len(row.digest) == 64
    assert not CalendarToken.objects.filter(digest=token).exists()
    assert calendar_token_owner(token) == clinician
    new_row, new_token = calendar_token_create(user=clinician)  # regenerate: the old one stops
    assert _feed(token).status_code == 404 and _feed(new_token).status_code == 200
    assert CalendarToken.objects.filter(user=clinician).count() == 2
    assert calendar_tokens_revoke(user=clinician, by=clinician) == 1
    assert _feed(new_token).status_code == 404
    assert _feed("no-such-token").status_code == 404
    kinds = list(AccessEvent.objects.filter(user=clinician).values_list("kind", flat=True))
    assert kinds.count(AccessKind.CALENDAR_TOKEN_CREATED) == 2 and AccessKind.CALENDAR_TOKEN_REVOKED in kinds


@pytest.mark.req("URS-DEV-003")
def test_the_feed_follows_the_user_s_sites_and_active_status(clinician, cohort, site_b):
    from accounts.models import Membership

    _, token = calendar_token_create(user=clinician)
    Membership.objects.filter(user=clinician).update(site=site_b)
    events = Calendar.from_ical(_feed(token).content).walk("VEVENT")
    assert [str(e["UID"]) for e in events] == [event_uid(cohort["late_b"].pk, 2)]
    Membership.objects.filter(user=clinician).delete()
    assert _feed(token).status_code == 404  # no study role any more
    clinician.is_active = False
    clinician.save()
    assert _feed(token).status_code == 404


def test_the_profile_page_shows_the_address_once_and_revokes(client_for, clinician, cohort):
    client = client_for(clinician)
    url = reverse("oversight:calendar")
    assert "no calendar feed address" in client.get(url).content.decode()
    created = client.post(url, {"action": "create"})
    feed_url = created.context["feed_url"]
    assert "/oversight/calendar/" in feed_url and feed_url.split("?")[0].endswith(".ics")  # ?lang=: its language
    assert Client().get(feed_url).status_code == 200
    again = client.get(url).content.decode()
    assert feed_url not in again and "An address is active" in again  # not shown twice
    assert client.post(url, {"action": "revoke"}).status_code == 302
    assert Client().get(feed_url).status_code == 404


def test_an_admin_revokes_and_regenerates_in_the_django_admin(client, clinician, cohort):
    from tests.conftest import _user_with_role

    admin = _user_with_role("admin", username="admin-staff")
    admin.is_staff = True
    admin.save()
    _, token = calendar_token_create(user=clinician)
    client.force_login(admin)
    changelist = reverse("admin:accounts_calendartoken_changelist")
    assert client.get(changelist).status_code == 200
    row = CalendarToken.objects.get(user=clinician)
    response = client.post(changelist, {"action": "regenerate", "_selected_action": [row.pk]}, follow=True)
    assert response.status_code == 200
    assert _feed(token).status_code == 404
    new = CalendarToken.objects.active().get(user=clinician)
    assert new.prefix in response.content.decode()
    client.post(changelist, {"action": "revoke", "_selected_action": [new.pk]})
    assert not CalendarToken.objects.active().filter(user=clinician).exists()


@pytest.mark.req("URS-DEV-003")
def test_ending_a_locked_out_user_s_access_revokes_the_feed(clinician, cohort):
    from accounts.services import user_access_revoke

    _, token = calendar_token_create(user=clinician)
    user_access_revoke(user=clinician, reason="locked out")
    assert _feed(token).status_code == 404
