"""Issue 12, finding 9: two-factor authentication with time-based one-time
passwords (TOTP), required per role by an administrator."""

import pytest
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import two_factor
from accounts.models import RolePolicy
from oversight.models import AccessEvent, AccessKind
from tests.security.conftest import raiser, world_a  # noqa: F401  (fixtures: one patient's records)

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"  # tests/accounts/factories.py
VERIFY = "/accounts/two-factor/"
SETUP = "/accounts/two-factor/setup/"


@pytest.fixture(autouse=True)
def _no_backoff(settings):
    """django-otp waits 1, 2, 4... seconds after a wrong code; the tests do not."""
    settings.OTP_TOTP_THROTTLE_FACTOR = 0


def code_for(device, offset=0):
    """The code an authenticator app shows now (from the device's secret key);
    ``offset``: that many time steps later (accepted within the tolerance of one
    step, and not a replay of the current code)."""
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=offset):06d}"


def wrong_code(device):
    return f"{(int(code_for(device)) + 500_000) % 1_000_000:06d}"


def enrolled(user):
    return TOTPDevice.objects.create(user=user, name="phone", confirmed=True)


def password_step(user, next_url=""):
    client = Client()
    response = client.post("/accounts/login/" + (f"?next={next_url}" if next_url else ""),
                           {"username": user.username, "password": PASSWORD, "next": next_url})
    assert response.status_code == 302, response.content[:500]
    return client, response


def require_for(role):
    RolePolicy.objects.update_or_create(role=role, defaults={"require_two_factor": True})


# --- nobody is asked unless enrolled or required --------------------------------------------------

def test_the_demo_policy_requires_nobody(clinician):
    assert set(RolePolicy.objects.values_list("role", "require_two_factor")) == {
        ("clinician", False), ("investigator", False), ("coordinator", False), ("monitor", False),
        ("admin", False)}
    client, response = password_step(clinician)
    assert response["Location"] == "/"
    assert client.get("/patients/").status_code == 200


# --- signing in with a code -----------------------------------------------------------------------

@pytest.mark.req("URS-ACC-006")
def test_an_enrolled_user_signs_in_with_a_real_totp_code(clinician):
    device = enrolled(clinician)
    client, response = password_step(clinician, next_url="/patients/")
    # The password alone reaches nothing: every page leads to the code page.
    page = client.get(response["Location"])
    assert page.status_code == 302 and page["Location"].startswith(VERIFY)
    assert client.get("/patients/")["Location"] == VERIFY + "?next=%2Fpatients%2F"
    form = client.get(VERIFY + "?next=/patients/")
    assert form.status_code == 200 and b'autocomplete="one-time-code"' in form.content
    response = client.post(VERIFY, {"code": code_for(device), "next": "/patients/"})
    assert response.status_code == 302 and response["Location"] == "/patients/"
    assert client.get("/patients/").status_code == 200
    assert client.get("/api/v1/patients/").status_code == 200
    assert AccessEvent.objects.filter(kind=AccessKind.TWO_FACTOR_VERIFIED, user=clinician).exists()
    # The same code cannot be used twice (another login, same time step).
    other, _ = password_step(clinician)
    again = other.post(VERIFY, {"code": code_for(device)})
    assert again.status_code == 200 and "not right" in again.content.decode()


def test_a_wrong_code_is_refused_and_recorded(clinician):
    device = enrolled(clinician)
    client, _ = password_step(clinician)
    response = client.post(VERIFY, {"code": wrong_code(device)})
    assert response.status_code == 200 and "That code is not right" in response.content.decode()
    assert client.get("/patients/")["Location"].startswith(VERIFY)
    event = AccessEvent.objects.get(kind=AccessKind.TWO_FACTOR_FAILED)
    assert event.user == clinician
    assert not AccessEvent.objects.filter(kind=AccessKind.LOGIN_FAILED).exists()
    # Not six digits: a form error, not a failed attempt.
    for not_a_code in ("12ab", "12345²", "١٢٣٤٥٦", "1234567"):
        response = client.post(VERIFY, {"code": not_a_code})
        assert "Enter the 6 digits" in response.content.decode(), not_a_code
    assert AccessEvent.objects.filter(kind=AccessKind.TWO_FACTOR_FAILED).count() == 1


@pytest.mark.req("URS-ACC-006")
def test_an_unverified_session_reaches_no_page_nor_the_session_api(clinician, world_a):
    enrolled(clinician)
    client, _ = password_step(clinician)
    for url in ("/", "/patients/", f"/patients/{world_a.patient.pk}/", "/safety/", "/oversight/audit/",
                "/admin/", "/accounts/security/", SETUP, "/accounts/password_change/", "/api/token/",
                "/api/v1/docs/"):
        for method in ("get", "post"):
            response = getattr(client, method)(url, HTTP_ACCEPT="text/html,*/*;q=0.8")
            assert response.status_code == 302 and response["Location"].startswith(VERIFY), (method, url)
    for url in ("/api/v1/patients/", f"/api/v1/patients/{world_a.patient.pk}/", "/api/v1/", "/api/token/"):
        response = client.get(url)
        assert response.status_code == 403, url
        assert response.json()["code"] == "two_factor_required"
    assert client.post("/api/v1/patients/", {}, content_type="application/json").status_code == 403
    page = client.get(VERIFY).content.decode()
    assert world_a.patient.subject_id not in page and "/patients/" not in page  # no menu yet
    assert client.get("/healthz/").status_code == 200
    assert client.post("/accounts/logout/").status_code == 302


def test_api_tokens_are_unaffected(clinician):
    """A token is made on the token page by a verified session; its client has no
    session and is not asked for a code."""
    device = enrolled(clinician)
    client, _ = password_step(clinician)
    client.post(VERIFY, {"code": code_for(device)})
    key = client.post("/api/token/", {"action": "create"}).context["new_token"]
    assert key
    response = Client().get("/api/v1/patients/", HTTP_AUTHORIZATION=f"Token {key}")
    assert response.status_code == 200


@pytest.mark.req("URS-ACC-006")
def test_wrong_codes_lock_the_account(clinician, settings):
    settings.AXES_FAILURE_LIMIT = 3
    device = enrolled(clinician)
    client, _ = password_step(clinician)
    for _ in range(2):
        assert client.post(VERIFY, {"code": wrong_code(device)}).status_code == 200
    response = client.post(VERIFY, {"code": wrong_code(device)})
    assert response.status_code in (302, 429)
    assert "_auth_user_id" not in client.session  # signed out
    assert AccessEvent.objects.filter(kind=AccessKind.LOCKED_OUT, user=clinician).exists()
    # Even the right password then the right code: still locked.
    assert Client().post("/accounts/login/", {"username": clinician.username,
                                              "password": PASSWORD}).status_code == 429


def test_wrong_codes_across_password_logins_still_lock(clinician, admin_user, settings):
    """A right password resets django-axes' count; the authenticator's own count is not
    reset by it, so a stolen password does not give unlimited code guesses."""
    settings.AXES_FAILURE_LIMIT = 3
    device = enrolled(clinician)
    for _ in range(3):
        client, _ = password_step(clinician)
        client.post(VERIFY, {"code": wrong_code(device)})
    client, _ = password_step(clinician)
    response = client.post(VERIFY, {"code": code_for(device)})
    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    assert "_auth_user_id" not in client.session
    # The administrator's unlock (Users, "Unlock after failed logins") lets the right code in again.
    admin = Client()
    admin.force_login(admin_user)
    admin.post("/admin/auth/user/", {"action": "unlock_accounts", "_selected_action": [clinician.pk]})
    assert AccessEvent.objects.filter(kind=AccessKind.UNLOCKED, user=clinician).exists()
    client, _ = password_step(clinician)
    assert client.post(VERIFY, {"code": code_for(device)})["Location"] == "/"


# --- setting up ---------------------------------------------------------------------------------------

def set_up(client, next_url=""):
    page = client.get(SETUP + (f"?next={next_url}" if next_url else ""))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'src="data:image/svg+xml' in html and "otpauth://totp/" in html
    device = TOTPDevice.objects.get(confirmed=False)
    assert two_factor.secret_for_manual_entry(device) in html
    return device


@pytest.mark.req("URS-ACC-006")
def test_a_role_that_requires_it_forces_the_setup_after_login(investigator, clinician):
    require_for("investigator")
    client, _ = password_step(investigator)
    response = client.get("/patients/")
    assert response.status_code == 302 and response["Location"].startswith(SETUP)
    assert client.get("/api/v1/patients/").json()["code"] == "two_factor_required"
    assert client.get(VERIFY).status_code == 302  # not the code page: nothing to check yet
    device = set_up(client)
    # Reloading keeps the same key (the user may have scanned it already).
    assert set_up(client).pk == device.pk
    assert "not right" in client.post(SETUP, {"code": wrong_code(device)}).content.decode()
    response = client.post(SETUP, {"code": code_for(device), "next": "/patients/"})
    assert response.status_code == 302 and response["Location"] == "/patients/"
    device.refresh_from_db()
    assert device.confirmed
    assert client.get("/patients/").status_code == 200
    assert AccessEvent.objects.filter(kind=AccessKind.TWO_FACTOR_ENABLED, user=investigator).exists()
    # Other roles are not asked.
    other, _ = password_step(clinician)
    assert other.get("/patients/").status_code == 200
    # The next login asks for the code; the role's users cannot turn it off.
    later, _ = password_step(investigator)
    assert later.get("/patients/")["Location"].startswith(VERIFY)
    later.post(VERIFY, {"code": code_for(device, offset=1)})
    assert later.get("/patients/").status_code == 200
    later.post("/accounts/two-factor/remove/", {"code": code_for(device, offset=1)})
    assert TOTPDevice.objects.filter(user=investigator, confirmed=True).exists()


def test_a_pending_code_cannot_be_skipped_by_setting_up_another_authenticator(clinician):
    device = enrolled(clinician)
    client, _ = password_step(clinician)
    assert client.get(SETUP)["Location"].startswith(VERIFY)
    assert client.post(SETUP, {"code": code_for(device)})["Location"].startswith(VERIFY)
    assert TOTPDevice.objects.filter(user=clinician).count() == 1


def test_anybody_may_enrol_and_then_is_always_asked(clinician):
    client, _ = password_step(clinician)
    security = client.get("/accounts/security/").content.decode()
    assert "Set up two-factor authentication" in security
    device = set_up(client)
    assert client.post(SETUP, {"code": code_for(device)})["Location"] == "/accounts/security/"
    assert "Turn two-factor authentication off" in client.get("/accounts/security/").content.decode()
    next_login, _ = password_step(clinician)
    assert next_login.get("/patients/")["Location"].startswith(VERIFY)
    # Turning it off needs a current code.
    client.post("/accounts/two-factor/remove/", {"code": wrong_code(device)})
    assert TOTPDevice.objects.filter(user=clinician).exists()
    client.post("/accounts/two-factor/remove/", {"code": code_for(device, offset=1)})
    assert not TOTPDevice.objects.filter(user=clinician).exists()
    assert AccessEvent.objects.filter(kind=AccessKind.TWO_FACTOR_REMOVED, user=clinician).exists()
    client, _ = password_step(clinician)
    assert client.get("/patients/").status_code == 200


@pytest.mark.req("URS-CRD-004")
def test_an_admin_resets_a_lost_authenticator(clinician, admin_user):
    enrolled(clinician)
    admin = Client()
    admin.force_login(admin_user)
    response = admin.post("/admin/auth/user/", {"action": "reset_two_factor",
                                                "_selected_action": [clinician.pk]})
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=clinician).exists()
    event = AccessEvent.objects.get(kind=AccessKind.TWO_FACTOR_REMOVED, user=clinician)
    assert event.detail == {"by": admin_user.username}
    client, _ = password_step(clinician)
    assert client.get("/patients/").status_code == 200


@pytest.mark.req("URS-CRD-003")
def test_the_admin_never_shows_a_key(clinician, admin_user):
    device = enrolled(clinician)
    admin = Client()
    admin.force_login(admin_user)
    for url in ("/admin/otp_totp/totpdevice/", f"/admin/otp_totp/totpdevice/{device.pk}/change/"):
        response = admin.get(url)
        assert response.status_code == 200
        assert device.key not in response.content.decode()
    assert admin.get("/admin/otp_totp/totpdevice/add/").status_code == 403
    assert admin.get("/admin/accounts/rolepolicy/").status_code == 200


@pytest.mark.req("URS-SIG-004")
def test_the_e_signature_still_asks_for_the_password_only(investigator, world_a):
    device = enrolled(investigator)
    client, _ = password_step(investigator)
    client.post(VERIFY, {"code": code_for(device)})
    page = client.get(f"/oversight/cycles/{world_a.cycle.pk}/sign/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="password"' in html and 'name="code"' not in html
