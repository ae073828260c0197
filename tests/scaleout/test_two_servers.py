"""Scale-out: two app servers on one PostgreSQL database behave as one.

Two gunicorn processes (one worker each, DEBUG off, plain HTTP on 127.0.0.1)
share the test database. With ``requests`` (a browser's cookie jar, used
against both servers as a load balancer would spread its requests) the tests
show that nothing a user depends on is kept in one server's memory or disk:

- a session opened on server A works on server B, and a logout on B ends it on A;
- a casebook lock set through A refuses an edit submitted through B;
- an optimistic-concurrency conflict holds across the servers: the later save
  gets the conflict message and overwrites nothing;
- failed logins split over A and B lock the account on both (django-axes keeps
  its state in the database).

PostgreSQL only: the servers are other processes, so the data must be
committed (transactional tests) in a database they can open; pytest-django's
SQLite test database is in memory. The servers start once for the module and
are always stopped.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.db import connection

from tests.accounts.factories import MembershipFactory, SiteFactory, UserFactory
from tests.patients.factories import PatientFactory

requests = pytest.importorskip("requests")

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "scale-out correct horse"
STALE = "Someone else saved this record"

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql",
                       reason="needs PostgreSQL: the app servers are other processes and must open "
                              "the test database (pytest-django's SQLite one is in memory)"),
    # Committed data (the servers must see it); serialized_rollback restores the
    # migrations' data (the role groups) that the flush after each test removes.
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


# --- Two servers ---------------------------------------------------------------------

def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _database_url(settings_dict):
    user = quote(settings_dict.get("USER") or "", safe="")
    password = quote(settings_dict.get("PASSWORD") or "", safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or "5432"
    return f"postgres://{auth}{host}:{port}/{quote(settings_dict['NAME'], safe='')}"


def _server_env():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="tests.scaleout.server_settings",
        DATABASE_URL=_database_url(connection.settings_dict),
        DEBUG="0",
        SECRET_KEY="scale-out-test-" + os.urandom(16).hex(),  # one key for both, as in production
        ALLOWED_HOSTS="127.0.0.1",
        # Plain HTTP on 127.0.0.1 (in production a proxy terminates TLS).
        SECURE_SSL_REDIRECT="0", SECURE_COOKIES="0", SECURE_HSTS_SECONDS="0",
        AXES_ENABLED="1", AXES_FAILURE_LIMIT="5", AXES_COOLOFF_MINUTES="0",
        LOG_LEVEL="WARNING",
    )
    return env


def _stop(proc):
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)  # gunicorn's master and its worker (own session)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def servers(django_db_setup, django_db_blocker, tmp_path_factory):
    """Base URLs of two gunicorn servers (A, B) on the test database."""
    logs = tmp_path_factory.mktemp("scaleout")
    gunicorn = Path(sys.executable).with_name("gunicorn")
    env = _server_env()
    procs, urls, log_files = [], [], []
    try:
        for name in ("a", "b"):
            port = _free_port()
            log = open(logs / f"server-{name}.log", "wb")  # noqa: SIM115 - closed below
            log_files.append(log)
            procs.append(subprocess.Popen(
                [str(gunicorn), "ivigtrial.wsgi:application", "--bind", f"127.0.0.1:{port}",
                 "--workers", "1", "--no-control-socket", "--timeout", "60"],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
            urls.append(f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + 60
        for proc, url, log in zip(procs, urls, log_files):
            while True:
                if proc.poll() is not None:
                    pytest.fail(f"server {url} exited:\n{Path(log.name).read_text()[-3000:]}")
                try:
                    answer = requests.get(f"{url}/healthz/", timeout=5)
                    if answer.status_code == 200 and answer.text == "ok":
                        break
                except (requests.ConnectionError, requests.Timeout):
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(f"server {url} not healthy in 60 s:\n{Path(log.name).read_text()[-3000:]}")
                time.sleep(0.1)
        yield tuple(urls)
        for log in log_files:  # a traceback on either server fails the module
            text = Path(log.name).read_text()
            assert "Traceback" not in text, text[-5000:]
    finally:
        for proc in procs:
            _stop(proc)
        for log in log_files:
            log.close()
        # The flush after the last test (serialized_rollback: without post_migrate)
        # leaves the database empty; put the migrations' data back for later tests.
        with django_db_blocker.unblock():
            contents = getattr(connection, "_test_serialized_contents", None)
            if contents:
                connection.creation.deserialize_db_from_string(contents)


# --- A browser, as far as the tests need one -------------------------------------------

class _Forms(HTMLParser):
    """The fields of every <form> of a page, as a browser would submit them."""

    def __init__(self):
        super().__init__()
        self.forms, self._select, self._textarea = [], None, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms.append({"action": a.get("action"), "fields": {}})
        if not self.forms:
            return
        fields = self.forms[-1]["fields"]
        name = a.get("name")
        if tag == "input" and name and "disabled" not in a:
            kind = (a.get("type") or "text").lower()
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    fields[name] = a.get("value", "on")
            elif kind not in ("submit", "button", "image", "reset", "file"):
                fields[name] = a.get("value") or ""
        elif tag == "select" and name:
            self._select = name
            fields.setdefault(name, "")
        elif tag == "option" and self._select and "selected" in a:
            fields[self._select] = a.get("value", "")
        elif tag == "textarea" and name:
            self._textarea = name
            fields[name] = ""

    def handle_data(self, data):
        if self._textarea and self.forms:
            self.forms[-1]["fields"][self._textarea] += data

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def form_fields(html, containing):
    """The fields of the page's form that has a field named ``containing``."""
    parser = _Forms()
    parser.feed(html)
    for form in parser.forms:
        if containing in form["fields"]:
            return dict(form["fields"])
    raise AssertionError(f"no form with a {containing!r} field in:\n{html[:3000]}")


def login(browser, base, username, password=PASSWORD):
    page = browser.get(f"{base}/accounts/login/", timeout=20)
    data = form_fields(page.text, "username")
    data.update(username=username, password=password)
    return browser.post(f"{base}/accounts/login/", data=data, timeout=20)


def is_signed_in(browser, base):
    answer = browser.get(f"{base}/patients/", allow_redirects=False, timeout=20)
    if answer.status_code == 302 and "/accounts/login/" in answer.headers["Location"]:
        return False
    assert answer.status_code == 200, answer.status_code
    return True


def user_with_role(username, role, site=None):
    user = UserFactory(username=username)
    # The servers use the production hashers, not the tests' MD5; few iterations
    # keep failed logins fast (a successful one upgrades the hash, as in production).
    user.password = PBKDF2PasswordHasher().encode(PASSWORD, "scaleoutsalt", iterations=1000)
    user.save()
    MembershipFactory(user=user, role=role, site=site)
    return user


@pytest.fixture
def site():
    return SiteFactory(code="01", name="Site A")


# --- The tests ---------------------------------------------------------------------------

@pytest.mark.req("URS-DEV-004")
def test_session_opened_on_one_server_works_on_the_other(servers, site):
    a, b = servers
    user_with_role("clin-session", "clinician", site)
    browser = requests.Session()
    assert not is_signed_in(browser, b)
    answer = login(browser, a, "clin-session")
    assert answer.status_code == 200 and answer.url.startswith(a) and "/accounts/login/" not in answer.url
    assert is_signed_in(browser, a)
    assert is_signed_in(browser, b)  # the session is in the database, not in server A

    # Log out on B (POST with the CSRF token of B's page): the session ends on A too.
    page = browser.get(f"{b}/patients/", timeout=20)
    logout = form_fields(page.text, "csrfmiddlewaretoken")
    browser.post(f"{b}/accounts/logout/", data=logout, timeout=20)
    assert not is_signed_in(browser, a)
    assert not is_signed_in(browser, b)


@pytest.mark.req("URS-DEV-004")
def test_lock_set_through_one_server_refuses_an_edit_through_the_other(servers, site):
    a, b = servers
    patient = PatientFactory(site=site, subject_id="01-001", birth_year=1970)
    user_with_role("admin-lock", "admin")
    user_with_role("clin-lock", "clinician", site)
    admin, clinician = requests.Session(), requests.Session()
    login(admin, a, "admin-lock")
    login(clinician, b, "clin-lock")

    # The clinician opens the edit form on B before the lock...
    edit_url = f"{b}/patients/{patient.pk}/edit/"
    data = form_fields(clinician.get(edit_url, timeout=20).text, "expected_version")
    # ...the administrator locks the casebook through A...
    lock_url = f"{a}/oversight/casebooks/{patient.pk}/lock/"
    lock = form_fields(admin.get(lock_url, timeout=20).text, "reason")
    lock["reason"] = "Interim analysis"
    assert admin.post(lock_url, data=lock, timeout=20).status_code == 200
    patient.refresh_from_db()
    assert patient.locked_at is not None
    locked_version = patient.version

    # ...and the clinician's save through B is refused; nothing changes.
    data.update(birth_year="1971", change_reason="Typo in the birth year")
    answer = clinician.post(edit_url, data=data, timeout=20)
    assert "is locked" in answer.text
    patient.refresh_from_db()
    assert (patient.birth_year, patient.version) == (1970, locked_version)
    # B does not even offer the form any more.
    reopened = clinician.get(edit_url, allow_redirects=False, timeout=20)
    assert reopened.status_code == 302


@pytest.mark.req("URS-DEV-004")
def test_edit_conflict_holds_across_servers(servers, site):
    a, b = servers
    patient = PatientFactory(site=site, subject_id="01-002", birth_year=1970, race="WHITE")
    user_with_role("clin-one", "clinician", site)
    user_with_role("clin-two", "clinician", site)
    one, two = requests.Session(), requests.Session()
    login(one, a, "clin-one")
    login(two, b, "clin-two")

    # Both open the same edit form, one on each server.
    form_one = form_fields(one.get(f"{a}/patients/{patient.pk}/edit/", timeout=20).text, "expected_version")
    form_two = form_fields(two.get(f"{b}/patients/{patient.pk}/edit/", timeout=20).text, "expected_version")
    assert form_one["expected_version"] == form_two["expected_version"] == str(patient.version)

    form_one.update(birth_year="1971", change_reason="Birth year from the ID card")
    saved = one.post(f"{a}/patients/{patient.pk}/edit/", data=form_one, timeout=20)
    assert saved.status_code == 200 and STALE not in saved.text
    patient.refresh_from_db()
    assert (patient.birth_year, patient.version) == (1971, 2)

    form_two.update(race="ASIAN", change_reason="Race per the patient")
    refused = two.post(f"{b}/patients/{patient.pk}/edit/", data=form_two, timeout=20)
    assert refused.status_code == 200
    assert STALE in refused.text and "Nothing was overwritten" in refused.text
    patient.refresh_from_db()
    assert (patient.birth_year, patient.race, patient.version) == (1971, "WHITE", 2)
    assert patient.history.count() == 2  # created, then the one accepted edit


@pytest.mark.req("URS-DEV-004")
def test_login_lockout_holds_across_servers(servers, site):
    a, b = servers
    user_with_role("clin-lockout", "clinician", site)
    browser = requests.Session()
    # Four failures, alternating between the servers: still the login form.
    for base in (a, b, a, b):
        answer = login(browser, base, "clin-lockout", password="wrong password")
        assert answer.status_code == 200 and 'name="password"' in answer.text
    # The fifth (on A) locks the account...
    assert login(browser, a, "clin-lockout", password="wrong password").status_code == 429
    # ...on both servers: even the right password is refused, and no session opens.
    for base in (b, a):
        answer = login(browser, base, "clin-lockout")
        assert answer.status_code == 429 and "This account is locked" in answer.text
        assert not is_signed_in(browser, base)
    # A colleague at the same site (same address) is not locked out.
    user_with_role("clin-colleague", "clinician", site)
    colleague = requests.Session()
    login(colleague, b, "clin-colleague")
    assert is_signed_in(colleague, a)
