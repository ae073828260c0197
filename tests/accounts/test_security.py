"""Accounts and transport security (issue 7, part 3): login lockout, idle
sign-out, cookies, Content-Security-Policy, the deploy checks."""

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.test import Client, override_settings
from django.urls import reverse

from accounts.middleware import LAST_ACTIVITY_KEY
from oversight.models import AccessEvent, AccessKind

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"
PASSWORD = "correct horse battery"  # tests/accounts/factories.py
ROOT = Path(settings.BASE_DIR)


def attempt(client, username, password):
    return client.post(LOGIN, {"username": username, "password": password})


# --- lockout (django-axes) ------------------------------------------------------------

@pytest.mark.req("URS-ACC-004")
def test_five_wrong_passwords_lock_the_account(clinician):
    client = Client()
    for _ in range(4):
        response = attempt(client, clinician.username, "wrong")
        assert response.status_code == 200  # the login form again, with its error
        assert "Please enter a correct username and password" in response.content.decode()
    # The fifth failure locks the account and says so.
    assert "This account is locked" in attempt(client, clinician.username, "wrong").content.decode()
    # Even the right password is refused now, with a clear page.
    response = attempt(client, clinician.username, PASSWORD)
    assert response.status_code == 429
    html = response.content.decode()
    assert "This account is locked" in html and "5 failed log-in attempts" in html
    assert "administrator" in html
    assert "_auth_user_id" not in client.session
    assert AccessEvent.objects.filter(kind=AccessKind.LOCKED_OUT, user=clinician).exists()
    # Another address is not locked by five failures (issue 12: anyone could lock any account,
    # and five typos behind a hospital's NAT address would lock it for the whole site);
    # tests/accounts/test_lockout.py has the lock from every address.
    other = Client(REMOTE_ADDR="10.9.8.7")
    assert attempt(other, clinician.username, PASSWORD).status_code == 302


def test_lockout_does_not_touch_other_accounts(clinician, investigator):
    client = Client()
    for _ in range(5):
        attempt(client, clinician.username, "wrong")
    response = attempt(client, investigator.username, PASSWORD)
    assert response.status_code == 302


def test_a_success_resets_the_count(clinician):
    client = Client()
    for _ in range(4):
        attempt(client, clinician.username, "wrong")
    assert attempt(client, clinician.username, PASSWORD).status_code == 302
    client.logout()
    for _ in range(4):
        attempt(client, clinician.username, "wrong")
    assert attempt(client, clinician.username, PASSWORD).status_code == 302


@override_settings(AXES_FAILURE_LIMIT=3)
def test_the_limit_is_configurable(clinician):
    client = Client()
    for _ in range(3):
        attempt(client, clinician.username, "wrong")
    response = attempt(client, clinician.username, PASSWORD)
    assert response.status_code == 429
    assert "3 failed log-in attempts" in response.content.decode()


@pytest.mark.req("URS-ACC-004")
def test_an_admin_unlocks_the_account(clinician, admin_user):
    client = Client()
    for _ in range(5):
        attempt(client, clinician.username, "wrong")
    assert attempt(client, clinician.username, PASSWORD).status_code == 429

    admin = Client()
    admin.force_login(admin_user)
    response = admin.post(reverse("admin:auth_user_changelist"), {
        "action": "unlock_accounts", "_selected_action": [clinician.pk]}, follow=True)
    assert "1 account unlocked." in response.content.decode()
    event = AccessEvent.objects.get(kind=AccessKind.UNLOCKED)
    assert event.user == clinician and event.detail == {"by": admin_user.username}

    assert attempt(client, clinician.username, PASSWORD).status_code == 302


@pytest.mark.req("URS-SIG-004")
def test_failed_signing_counts_towards_the_lockout(clinician):
    """A wrong password anywhere (log-in or e-signature) is an attempt at the account."""
    from django.contrib.auth import authenticate
    from django.test import RequestFactory

    request = RequestFactory().post("/x/")
    for _ in range(5):
        assert authenticate(request, username=clinician.username, password="wrong") is None
    assert authenticate(request, username=clinician.username, password=PASSWORD) is None


# --- idle sign-out ----------------------------------------------------------------

def _age_session(client, seconds):
    session = client.session
    session[LAST_ACTIVITY_KEY] = int(time.time()) - seconds
    session.save()


@pytest.mark.req("URS-ACC-007")
def test_idle_session_is_signed_out_with_a_message(client_for, clinician):
    client = client_for(clinician)
    assert client.get(reverse("patients:patient_list")).status_code == 200
    _age_session(client, 31 * 60)
    response = client.get(reverse("patients:patient_list"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("accounts:login"))
    page = client.get(response.url)
    assert "signed out after 30 minutes without activity" in page.content.decode()
    assert "_auth_user_id" not in client.session
    assert client.get(reverse("patients:patient_list")).status_code == 302


@pytest.mark.req("URS-ACC-007")
def test_activity_keeps_the_session_alive(client_for, clinician):
    client = client_for(clinician)
    _age_session(client, 29 * 60)
    assert client.get(reverse("patients:patient_list")).status_code == 200
    # The clock restarted: the session is fresh again.
    assert time.time() - client.session[LAST_ACTIVITY_KEY] < 5


def test_session_is_rewritten_at_most_once_a_minute(client_for, clinician):
    client = client_for(clinician)
    _age_session(client, 20)
    before = client.session[LAST_ACTIVITY_KEY]
    client.get(reverse("patients:patient_list"))
    assert client.session[LAST_ACTIVITY_KEY] == before


@override_settings(SESSION_IDLE_TIMEOUT=5 * 60)
@pytest.mark.req("URS-ACC-007")
def test_the_idle_limit_is_configurable(client_for, clinician):
    client = client_for(clinician)
    _age_session(client, 6 * 60)
    response = client.get(reverse("patients:patient_list"))
    assert response.status_code == 302
    assert "signed out after 5 minutes" in client.get(response.url).content.decode()


@pytest.mark.req("URS-ACC-007")
def test_idle_api_session_gets_json_403(client_for, clinician):
    client = client_for(clinician)
    _age_session(client, 31 * 60)
    response = client.get("/api/v1/patients/")
    assert response.status_code in (401, 403)
    assert response.json()["code"] in ("session_expired", "not_authenticated")


# --- passwords, cookies, headers ---------------------------------------------------

@pytest.mark.req("URS-CRD-001")
def test_django_password_validators_are_on(clinician):
    for weak in ("short", "password123", "12345678901", clinician.username + "1"):
        with pytest.raises(ValidationError):
            validate_password(weak, user=clinician)
    validate_password("Myositis-IVIG-2026!", user=clinician)


@override_settings(SESSION_COOKIE_SECURE=True, CSRF_COOKIE_SECURE=True)
@pytest.mark.req("URS-DEV-002")
def test_cookies_are_secure_httponly_and_samesite(clinician):
    client = Client()
    form = client.get(LOGIN)
    csrf = form.cookies[settings.CSRF_COOKIE_NAME]
    assert csrf["secure"] and csrf["httponly"] and csrf["samesite"] == "Lax"
    response = attempt(client, clinician.username, PASSWORD)
    session = response.cookies[settings.SESSION_COOKIE_NAME]
    assert session["secure"] and session["httponly"] and session["samesite"] == "Lax"


@pytest.mark.req("URS-SEC-001")
def test_every_page_sends_the_content_security_policy(client_for, clinician):
    for url in (LOGIN, reverse("patients:patient_list")):
        response = client_for(clinician).get(url)
        policy = response["Content-Security-Policy"]
        directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
        assert directives["script-src"] == "'self'"
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
        assert directives["frame-ancestors"] == "'none'"
        assert response["X-Frame-Options"] == "DENY"
        assert response["X-Content-Type-Options"] == "nosniff"


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)
INLINE_HANDLER = re.compile(r"\son[a-z]+\s*=", re.I)
INLINE_STYLE = re.compile(r"\sstyle\s*=|<style", re.I)


#: Documents written to a file, never served by the app (so under no Content-Security-Policy):
#: a self-contained file carries its own stylesheet. Scripts and handlers stay forbidden.
FILE_DOCUMENTS = {"templates/validation/report.html"}  # make validate's report (validation/report.py)


@pytest.mark.req("URS-SEC-001")
def test_no_template_of_ours_has_inline_script_or_style():
    offenders = []
    for path in ROOT.glob("**/templates/**/*.html"):
        if ".venv" in path.parts:
            continue
        # Template tags are not markup: "{% blocktranslate with onset=... %}" is no "onset=" handler.
        text = re.sub(r"{%.*?%}", "", path.read_text(), flags=re.S)
        for name, pattern in (("script", INLINE_SCRIPT), ("handler", INLINE_HANDLER),
                              ("style", INLINE_STYLE)):
            if name == "style" and str(path.relative_to(ROOT)) in FILE_DOCUMENTS:
                continue
            if pattern.search(text):
                offenders.append(f"{path.relative_to(ROOT)}: inline {name}")
    assert offenders == []


@pytest.mark.req("URS-INC-005")
def test_healthz_is_public_and_checks_the_database():
    response = Client().get("/healthz/")
    assert response.status_code == 200 and response.content == b"ok"


# --- production settings ----------------------------------------------------------

def _production_env(**extra):
    # Not the test process's own switches (the browser tests set DJANGO_ALLOW_ASYNC_UNSAFE).
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SECURE_", "SESSION_", "AXES_", "DEBUG", "DJANGO_"))}
    env.update({
        "SECRET_KEY": "Zq8-vR2!mW9xL4pT7nB1cY6hJ3gF0dS5aE-kU8oI2yR7tE4wQ1zX6cV9bN3mK0jH5g",
        "ALLOWED_HOSTS": "edc.example.org",
        "DATABASE_URL": "sqlite:////tmp/ivig-deploy-check.sqlite3",
    })
    env.update(extra)
    return env


def _manage(*args, **env):
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=_production_env(**env),
                          capture_output=True, text=True, timeout=120)


@pytest.mark.req("URS-VAL-004")
def test_check_deploy_passes_with_production_settings(tmp_path):
    # With the collectstatic manifest (core.checks; here one listing every static file,
    # as collectstatic writes it) and without it (core.E001).
    import json

    from core.checks import _static_files

    static = {"DJANGO_SETTINGS_MODULE": "tests.static_manifest_settings", "TEST_STATIC_ROOT": str(tmp_path)}
    result = _manage("check", "--deploy", "--fail-level", "WARNING", **static)
    assert result.returncode != 0 and "core.E001" in result.stderr, result.stdout + result.stderr
    (tmp_path / "staticfiles.json").write_text(json.dumps(
        {"paths": {path: path for path in _static_files()}, "version": "1.1", "hash": "x"}))
    result = _manage("check", "--deploy", "--fail-level", "WARNING", **static)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.req("URS-VAL-004", "URS-SEC-001")
def test_production_settings_are_strict_and_debug_is_not():
    code = ("from django.conf import settings as s; "
            "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_SSL_REDIRECT, "
            "s.SECURE_HSTS_SECONDS, s.SESSION_COOKIE_HTTPONLY, s.SESSION_IDLE_TIMEOUT, "
            "s.AXES_FAILURE_LIMIT)")
    prod = _manage("shell", "--no-imports", "-c", code)
    assert prod.stdout.split() == ["True", "True", "True", "31536000", "True", "1800", "5"], prod.stderr
    dev = _manage("shell", "--no-imports", "-c", code, DEBUG="1")
    assert dev.stdout.split()[:4] == ["False", "False", "False", "0"], dev.stderr
    tuned = _manage("shell", "--no-imports", "-c", code, SESSION_IDLE_MINUTES="15", AXES_FAILURE_LIMIT="3")
    assert tuned.stdout.split()[-2:] == ["900", "3"], tuned.stderr


def test_api_docs_pages_run_no_inline_script(client_for, clinician):
    client = client_for(clinician)
    for url in ("/api/v1/docs/", "/api/v1/redoc/"):
        response = client.get(url)
        assert response.status_code == 200
        assert not INLINE_SCRIPT.search(response.content.decode()), url
        assert "script-src 'self';" in response["Content-Security-Policy"]
    script = client.get("/api/v1/docs/?script")
    assert script["Content-Type"] == "application/javascript"
