"""Issue 12, finding 5: nobody can lock any account for good, and a lock is seen.

The account is locked from one client address after AXES_FAILURE_LIMIT (5) failures
from that address, and from every address only after LOCKOUT_ACCOUNT_FAILURE_LIMIT
(20) failures within LOCKOUT_ACCOUNT_COOLOFF_MINUTES (30), for that long. The start of a
lock ends the user's sessions and API tokens and tells the administrators; their
unlock clears both locks. Anonymous failures are counted per address and window in the
audit trail instead of one row each.
"""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.core import mail
from django.core.management import call_command
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from knox.models import AuthToken

from oversight.models import AccessEvent, AccessKind, FailedLoginCount
from oversight.services import failed_login_counts_write

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"
PASSWORD = "correct horse battery"  # tests/accounts/factories.py
ATTACKER = "203.0.113.9"
HOSPITAL = "10.20.30.40"


def attempt(username, password, address):
    return Client(REMOTE_ADDR=address).post(LOGIN, {"username": username, "password": password})


def fail(username, address, times):
    for _ in range(times):
        attempt(username, "guess", address)


def age_failures(minutes):
    """The failures counted so far happened ``minutes`` earlier."""
    for row in AccessAttempt.objects.all():
        AccessAttempt.objects.filter(pk=row.pk).update(attempt_time=row.attempt_time - timedelta(minutes=minutes))


@pytest.mark.req("URS-ACC-004")
def test_five_anonymous_failures_lock_the_account_from_that_address_only(admin_user):
    fail(admin_user.username, ATTACKER, 5)
    assert attempt(admin_user.username, PASSWORD, ATTACKER).status_code == 429
    # The administrator, from the hospital, is not locked out by the attacker.
    assert attempt(admin_user.username, PASSWORD, HOSPITAL).status_code == 302


@pytest.mark.req("URS-ACC-004")
def test_failures_from_many_addresses_lock_the_account_everywhere_for_the_cool_off_only(clinician):
    for i in range(4):
        fail(clinician.username, f"198.51.100.{i}", 5)
    response = attempt(clinician.username, PASSWORD, HOSPITAL)
    assert response.status_code == 429
    html = response.content.decode()
    assert "locked everywhere" in html and "You can try again after" in html
    # Refused attempts during the lock are not counted: they do not extend it.
    fail(clinician.username, "198.51.100.99", 10)
    assert AccessAttempt.objects.filter(ip_address="198.51.100.99").count() == 0
    age_failures(31)
    assert attempt(clinician.username, PASSWORD, HOSPITAL).status_code == 302
    # The addresses that made five failures each stay locked until an administrator unlocks them.
    assert attempt(clinician.username, PASSWORD, "198.51.100.0").status_code == 429


@override_settings(LOCKOUT_ACCOUNT_FAILURE_LIMIT=8, LOCKOUT_ACCOUNT_COOLOFF_MINUTES=5, AXES_FAILURE_LIMIT=3)
@pytest.mark.req("URS-ACC-004")
def test_the_limits_are_settings(clinician):
    fail(clinician.username, ATTACKER, 3)
    assert attempt(clinician.username, PASSWORD, ATTACKER).status_code == 429
    fail(clinician.username, "198.51.100.1", 2)
    fail(clinician.username, "198.51.100.2", 2)
    assert attempt(clinician.username, PASSWORD, HOSPITAL).status_code == 302
    fail(clinician.username, "198.51.100.3", 1)  # the eighth from anywhere
    assert attempt(clinician.username, PASSWORD, HOSPITAL).status_code == 429
    age_failures(6)
    assert attempt(clinician.username, PASSWORD, HOSPITAL).status_code == 302


@pytest.mark.req("URS-ACC-005")
def test_a_lock_everywhere_ends_the_users_open_sessions_and_api_tokens(clinician, monitor):
    browser = Client()
    browser.force_login(clinician)
    assert browser.get("/patients/").status_code == 200
    AuthToken.objects.create(user=clinician)
    AuthToken.objects.create(user=monitor)
    bystander = Client()
    bystander.force_login(monitor)

    for i in range(4):  # 20 failures from four addresses: locked from every address
        fail(clinician.username, f"198.51.100.{i}", 5)

    response = browser.get("/patients/")
    assert response.status_code == 302 and response["Location"].startswith(LOGIN)
    assert not AuthToken.objects.filter(user=clinician).exists()
    assert AuthToken.objects.filter(user=monitor).exists() and bystander.get("/patients/").status_code == 200
    event = AccessEvent.objects.filter(kind=AccessKind.ACCESS_REVOKED).latest("pk")
    assert event.user == clinician
    assert (event.detail["sessions_ended"], event.detail["api_tokens_deleted"]) == (1, 1)


@pytest.mark.req("URS-ACC-005")
def test_a_lock_from_one_address_ends_only_the_sessions_opened_from_it(clinician):
    """A stranger's five guesses lock the account from the stranger's address: the
    user's sessions opened from there end, the user's work elsewhere (a session from
    the hospital, the API tokens) goes on."""
    at_hospital = Client(REMOTE_ADDR=HOSPITAL)
    assert at_hospital.post(LOGIN, {"username": clinician.username, "password": PASSWORD}).status_code == 302
    from_there = Client(REMOTE_ADDR=ATTACKER)
    assert from_there.post(LOGIN, {"username": clinician.username, "password": PASSWORD}).status_code == 302
    AuthToken.objects.create(user=clinician)

    fail(clinician.username, ATTACKER, 5)

    assert at_hospital.get("/patients/").status_code == 200
    assert from_there.get("/patients/").status_code == 302
    assert AuthToken.objects.filter(user=clinician).count() == 1
    event = AccessEvent.objects.get(kind=AccessKind.ACCESS_REVOKED)
    assert event.detail["from_address"] == ATTACKER
    assert (event.detail["sessions_ended"], event.detail["api_tokens_deleted"]) == (1, 0)


@pytest.mark.req("URS-INC-002")
def test_the_administrators_are_told_once_by_mail_and_a_banner(clinician, admin_user, monitor):
    admin_user.email = "admin@example.org"
    admin_user.save()
    fail(clinician.username, ATTACKER, 9)  # the lock, then four refused attempts

    assert AccessEvent.objects.filter(kind=AccessKind.LOCKED_OUT, user=clinician).count() == 1
    event = AccessEvent.objects.get(kind=AccessKind.LOCKED_OUT)
    assert event.ip_address == ATTACKER and event.detail["lock"] == "from this address"
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["admin@example.org"] and clinician.username in message.subject
    assert "/admin/auth/user/?locked=yes" in message.body

    admin = Client()
    admin.force_login(admin_user)
    html = admin.get("/patients/").content.decode()
    assert 'id="locked-accounts-banner"' in html and clinician.username in html
    assert "/admin/auth/user/?locked=yes" in html
    listing = admin.get("/admin/auth/user/?locked=yes").content.decode()
    assert clinician.username in listing and admin_user.username not in listing.split("result_list")[-1]

    other = Client()
    other.force_login(monitor)
    assert 'id="locked-accounts-banner"' not in other.get("/patients/").content.decode()


@pytest.mark.req("URS-INC-001")
def test_a_made_up_user_name_tells_nobody(admin_user):
    admin_user.email = "admin@example.org"
    admin_user.save()
    fail("no-such-user", ATTACKER, 5)
    assert not mail.outbox
    assert not AccessEvent.objects.filter(kind=AccessKind.LOCKED_OUT).exists()
    # The page says "locked" all the same: it does not tell which accounts exist.
    assert attempt("no-such-user", PASSWORD, ATTACKER).status_code == 429


def test_the_banner_costs_one_query_whatever_the_number_of_locks(admin_user, make_user):
    admin = Client()
    admin.force_login(admin_user)
    admin.get("/patients/")
    counts = []
    for n in (1, 4):
        for i in range(n):
            user = make_user("monitor", username=f"m{n}-{i}")
            fail(user.username, ATTACKER, 5)
        with CaptureQueriesContext(connection) as captured:
            html = admin.get("/patients/").content.decode()
        assert html.count("from one address") == (1 if n == 1 else 5)
        counts.append(len(captured))
    assert counts[0] == counts[1]


@pytest.mark.req("URS-INC-002")
def test_an_admin_unlock_clears_both_locks(clinician, admin_user):
    for i in range(4):
        fail(clinician.username, f"198.51.100.{i}", 5)
    assert attempt(clinician.username, PASSWORD, HOSPITAL).status_code == 429
    admin = Client(REMOTE_ADDR=HOSPITAL)
    admin.force_login(admin_user)
    response = admin.post(reverse("admin:auth_user_changelist"), {
        "action": "unlock_accounts", "_selected_action": [clinician.pk]}, follow=True)
    assert "1 account unlocked." in response.content.decode()
    assert attempt(clinician.username, PASSWORD, HOSPITAL).status_code == 302
    assert attempt(clinician.username, PASSWORD, "198.51.100.0").status_code == 302


@pytest.mark.req("URS-INC-002")
def test_the_unlock_command_is_there_when_every_admin_is_locked(admin_user, clinician):
    fail(admin_user.username, HOSPITAL, 5)
    fail(clinician.username, HOSPITAL, 5)
    call_command("unlock_account", "--all")
    assert attempt(admin_user.username, PASSWORD, HOSPITAL).status_code == 302
    assert attempt(clinician.username, PASSWORD, HOSPITAL).status_code == 302
    assert AccessEvent.objects.filter(kind=AccessKind.UNLOCKED).count() == 2


@pytest.mark.req("URS-INC-001")
def test_a_flood_of_anonymous_failures_is_counted_not_written_one_by_one(admin_user):
    for i in range(60):
        attempt(f"name-{i % 30}", "guess", ATTACKER)
    assert AccessEvent.objects.filter(kind=AccessKind.LOGIN_FAILED).count() == 5
    assert FailedLoginCount.objects.get().count == 60
    # Another address has its own first rows.
    attempt("nurse", "guess", HOSPITAL)
    assert AccessEvent.objects.filter(kind=AccessKind.LOGIN_FAILED, ip_address=HOSPITAL).count() == 1

    FailedLoginCount.objects.update(window_start=FailedLoginCount.objects.get(ip_address=ATTACKER).window_start
                                    - timedelta(minutes=15))
    assert failed_login_counts_write() == 1  # the hospital's single failure is an event already
    assert not FailedLoginCount.objects.exists()
    counted = AccessEvent.objects.get(kind=AccessKind.LOGIN_FAILURES_COUNTED)
    assert counted.ip_address == ATTACKER and counted.detail["failed_logins"] == 60
    assert len(counted.detail["user_names_tried"]) == 20 and counted.detail["more_user_names"]

    # The audit trail shows the count.
    admin = Client()
    admin.force_login(admin_user)
    html = admin.get(reverse("oversight:audit_trail") + "?record_type=oversight.accessevent").content.decode()
    assert "Failed logins counted" in html and "60" in html


@pytest.mark.req("URS-INC-001")
def test_a_signed_in_users_failures_are_each_recorded(investigator, make_user):
    """A wrong e-signature password comes from a signed-in user: never only counted."""
    from oversight.services import login_failure_record
    from django.test import RequestFactory

    for _ in range(8):
        request = RequestFactory().post("/", REMOTE_ADDR=ATTACKER)
        request.user = investigator
        login_failure_record(request=request, username=investigator.username, user=investigator)
    assert AccessEvent.objects.filter(kind=AccessKind.LOGIN_FAILED).count() == 8
