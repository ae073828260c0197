"""Issue 12, finding 9: self-service password change and the maximum password age."""

import time
from io import StringIO
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from accounts.models import PasswordAge
from accounts.passwords import SESSION_PASSWORD_SET_AT
from oversight.models import AccessEvent, AccessKind

pytestmark = pytest.mark.django_db

CHANGE = "/accounts/password_change/"
PASSWORD = "correct horse battery"  # tests/accounts/factories.py
NEW = "Myositis-Trial-2026!"


def logged_in(user):
    """A real login through the login page (the session is what the browser gets)."""
    client = Client()
    response = client.post("/accounts/login/", {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302, response.content[:500]
    return client


def change(client, old, new1, new2=None):
    return client.post(CHANGE, {"old_password": old, "new_password1": new1,
                                "new_password2": new2 if new2 is not None else new1})


# --- change ---------------------------------------------------------------------------------

def test_the_page_exists_and_is_in_the_user_menu(clinician):
    client = logged_in(clinician)
    response = client.get(CHANGE)
    assert response.status_code == 200
    assert b'name="old_password"' in response.content
    menu = client.get("/accounts/security/").content.decode()
    assert CHANGE in menu
    assert "/accounts/security/" in client.get("/patients/").content.decode()


@pytest.mark.req("URS-CRD-001")
def test_a_wrong_current_password_is_refused(clinician):
    client = logged_in(clinician)
    response = change(client, "not my password", NEW)
    assert response.status_code == 200
    assert "Your old password was entered incorrectly" in response.content.decode()
    clinician.refresh_from_db()
    assert clinician.check_password(PASSWORD)
    assert not AccessEvent.objects.filter(kind=AccessKind.PASSWORD_CHANGED).exists()


@pytest.mark.req("URS-CRD-001")
def test_guessing_the_current_password_locks_the_account(clinician, settings):
    """A wrong current password is a failed login (django-axes), like a wrong
    e-signature password: guessing it locks the account, and then even the right
    one is refused (Django's form alone checks it with check_password, unseen)."""
    client = logged_in(clinician)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        change(client, "not my password", NEW)
    assert AccessEvent.objects.filter(kind=AccessKind.LOGIN_FAILED, user=clinician).count() \
        == settings.AXES_FAILURE_LIMIT
    assert Client().post("/accounts/login/", {"username": clinician.username,
                                              "password": PASSWORD}).status_code == 429
    clinician.refresh_from_db()
    assert clinician.check_password(PASSWORD)


@pytest.mark.req("URS-CRD-001")
def test_a_failed_attempt_keeps_no_password(clinician):
    """The failed-attempt records (django-axes, shown to administrators) keep no form
    data: a wrong current password posted with the new one leaves neither anywhere."""
    from axes.models import AccessAttempt

    client = logged_in(clinician)
    change(client, "ivig-dem0", NEW)
    attempt = AccessAttempt.objects.get(username=clinician.username)
    stored = " ".join(str(value) for value in AccessAttempt.objects.filter(pk=attempt.pk).values().get().values())
    assert NEW not in stored and "ivig-dem0" not in stored


@pytest.mark.req("URS-CRD-003")
def test_the_admins_set_password_form_does_not_tell_the_current_password(clinician, make_user):
    """Only the self-service form (which checks the current password through the
    lockout) compares the new password with the current one: elsewhere the answer
    would confirm a guess, uncounted."""
    admin = make_user("admin")
    admin.is_staff = True
    admin.save()
    client = Client()
    client.force_login(admin)
    url = f"/admin/auth/user/{clinician.pk}/password/"
    for guess in ("password123", PASSWORD):  # a wrong guess, then the right one
        response = client.post(url, {"password1": guess, "password2": guess})
        assert "must differ from the current one" not in response.content.decode()


@pytest.mark.parametrize("new, message", [
    ("short1!", "This password is too short"),
    ("password123", "This password is too common"),
    ("83749201938475", "This password is entirely numeric"),
    (PASSWORD, "The new password must differ from the current one"),
])
@pytest.mark.req("URS-CRD-001")
def test_the_password_validators_apply(clinician, new, message):
    client = logged_in(clinician)
    response = change(client, PASSWORD, new)
    assert response.status_code == 200
    assert message in response.content.decode()
    clinician.refresh_from_db()
    assert clinician.check_password(PASSWORD)


@pytest.mark.req("URS-AUD-005")
def test_a_change_keeps_the_session_and_is_an_access_event(clinician):
    client = logged_in(clinician)
    other_browser = logged_in(clinician)
    before = timezone.now()
    response = change(client, PASSWORD, NEW)
    assert response.status_code == 302 and response["Location"] == "/accounts/security/"
    clinician.refresh_from_db()
    assert clinician.check_password(NEW)
    # This session goes on; the other one (old password) is signed out.
    assert client.get("/patients/").status_code == 200
    assert "/accounts/login/" in other_browser.get("/patients/")["Location"]
    event = AccessEvent.objects.get(kind=AccessKind.PASSWORD_CHANGED)
    assert event.user == clinician
    assert "Myositis" not in str(event.detail)
    assert PasswordAge.objects.get(user=clinician).changed_at >= before
    assert client.session[SESSION_PASSWORD_SET_AT] >= int(before.timestamp())


@pytest.mark.req("URS-CRD-002")
def test_every_way_of_setting_a_password_starts_the_clock(clinician, admin_user, settings, monkeypatch):
    settings.DEBUG = True
    PasswordAge.objects.all().delete()
    # The admin's "change password" form.
    admin = Client()
    admin.force_login(admin_user)
    response = admin.post(f"/admin/auth/user/{clinician.pk}/password/",
                          {"password1": NEW, "password2": NEW, "usable_password": "true"})
    assert response.status_code == 302, response.content[:800]
    assert PasswordAge.objects.filter(user=clinician).exists()
    assert AccessEvent.objects.get(kind=AccessKind.PASSWORD_CHANGED, user=clinician).detail == {
        "by": admin_user.username}
    # createsuperuser and seed_demo.
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", NEW)
    call_command("createsuperuser", "--noinput", username="root", email="root@example.org", stdout=StringIO())
    assert PasswordAge.objects.filter(user__username="root").exists()
    call_command("seed_demo", stdout=StringIO())
    assert PasswordAge.objects.filter(user__username="admin").exists()
    # --reset-passwords sets the password of existing users again: the clock restarts.
    PasswordAge.objects.all().delete()
    call_command("seed_demo", "--reset-passwords", stdout=StringIO())
    assert PasswordAge.objects.filter(user__username="admin").exists()


# --- maximum age -------------------------------------------------------------------------------

def age_password(user, days):
    PasswordAge.objects.update_or_create(user=user, defaults={"changed_at": timezone.now() - timedelta(days=days)})


@pytest.mark.req("URS-CRD-002")
def test_no_maximum_age_by_default(clinician, settings):
    assert settings.PASSWORD_MAX_AGE_DAYS == 0
    age_password(clinician, 5000)
    client = logged_in(clinician)
    assert client.get("/patients/").status_code == 200
    assert client.get("/api/v1/patients/").status_code == 200


@pytest.mark.req("URS-CRD-002")
def test_an_expired_password_holds_every_page_until_changed(clinician, settings):
    settings.PASSWORD_MAX_AGE_DAYS = 90
    age_password(clinician, 91)
    client = logged_in(clinician)
    response = client.get("/patients/")
    assert response.status_code == 302 and response["Location"] == CHANGE
    page = client.get(CHANGE)
    assert page.status_code == 200 and "more than 90 days old" in page.content.decode()
    # The API (session) says so in JSON; logout, static files and the probe stay open.
    api = client.get("/api/v1/patients/")
    assert api.status_code == 403 and api.json()["code"] == "password_expired"
    assert client.get("/healthz/").status_code == 200
    # Changing it opens the site again.
    assert change(client, PASSWORD, NEW).status_code == 302
    assert client.get("/patients/").status_code == 200
    assert client.get("/api/v1/patients/").status_code == 200
    assert client.post("/accounts/logout/").status_code == 302


@pytest.mark.req("URS-CRD-002")
def test_a_young_password_is_not_held(clinician, settings):
    settings.PASSWORD_MAX_AGE_DAYS = 90
    age_password(clinician, 89)
    client = logged_in(clinician)
    assert client.get("/patients/").status_code == 200


def test_the_age_is_read_from_the_session_without_a_query(clinician, settings, django_assert_num_queries):
    settings.PASSWORD_MAX_AGE_DAYS = 90
    client = logged_in(clinician)
    session = client.session
    session[SESSION_PASSWORD_SET_AT] = int(time.time()) - 91 * 86400
    session.save()
    # Session, user, memberships (the site's time zone): nothing more for the redirect.
    with django_assert_num_queries(3):
        response = client.get("/patients/")
    assert response.status_code == 302 and response["Location"] == CHANGE
