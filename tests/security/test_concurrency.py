"""Lost updates with two real concurrent sessions (PostgreSQL only).

Two users, each with their own ``Client``, their own thread and so their own
database connection, open the same edit form, read its hidden
``expected_version``, and submit at the same moment (``threading.Barrier``).
Exactly one save wins; the other gets the form back with the conflict message
and overwrites nothing; the database holds the winner's value and exactly one
new history row. The same through the API: two PATCHes with one ``If-Match``,
one 200 and one 412.

SQLite serialises writers on one file lock and the test database is in memory
(one connection per thread would see an empty database), so these tests run on
PostgreSQL only (``DATABASE_URL=postgres://...``).
"""

import threading
from decimal import Decimal

import lxml.html
import pytest
from django.db import connection, connections
from django.test import Client
from rest_framework.test import APIClient

from patients.models import Patient
from tests.patients.factories import PatientFactory
from tests.visits.factories import full_cycle
from visits.models import Assessment

CONFLICT = "Someone else saved"

# Committed for real (the other thread's connection must see the rows);
# serialized_rollback puts back what the migrations created (role groups and
# their permissions) before each test.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.fixture(scope="module", autouse=True)
def _migrated_data_back(restore_migrated_data):
    """This module's transactional tests flush the database (tests/conftest.py)."""


@pytest.fixture
def postgres(transactional_db):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (DATABASE_URL): real concurrent connections to one database; "
                    "SQLite's in-memory test database is not shared between threads")


@pytest.fixture
def editors(postgres, site_a, make_user):
    return make_user("clinician", site_a, username="alice"), make_user("investigator", site_a, username="bob")


def form_values(response, marker):
    """What a browser would submit: the successful controls of the form that holds ``marker``."""
    assert response.status_code == 200, response.status_code
    page = lxml.html.fromstring(response.content)
    form = next(f for f in page.forms if f.xpath(f".//input[@name='{marker}']"))
    values = {}
    for name, value in form.form_values():
        values.setdefault(name, []).append(value)
    return {name: v[0] if len(v) == 1 else v for name, v in values.items()}


def race(sessions):
    """Run each ``(user, act)`` in its own thread with its own client and
    database connection; ``act(client, barrier)`` opens the form, waits on the
    barrier, submits and returns the response. Returns the responses by user."""
    barrier = threading.Barrier(len(sessions), timeout=60)
    results, errors = {}, []

    def run(user, act):
        try:
            results[user.username] = act(user, barrier)
        except BaseException as exc:  # noqa: BLE001 - reported in the main thread
            errors.append(exc)
            barrier.abort()
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=session) for session in sessions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a session hung"
    if errors:
        raise errors[0]
    return results


def page_editor(url, marker, change):
    """A browser session: GET the form, keep its values, change some, POST at the barrier."""

    def act(user, barrier):
        client = Client()
        client.force_login(user)
        data = form_values(client.get(url), marker)
        data.update(change(user))
        barrier.wait()
        return client.post(url, data)

    return act


def split(results):
    winners = [name for name, r in results.items() if r.status_code == 302]
    losers = [name for name, r in results.items() if r.status_code == 200]
    assert len(winners) == 1 and len(losers) == 1, {n: r.status_code for n, r in results.items()}
    return winners[0], results[losers[0]]


def test_patient_form_two_sessions_one_wins(editors):
    alice, bob = editors
    patient = PatientFactory(site=alice.memberships.get().site, subject_id="01-001", birth_year=1970)
    history_before = patient.history.count()
    years = {"alice": "1961", "bob": "1962"}
    act = page_editor(f"/patients/{patient.pk}/edit/", "expected_version",
                      lambda user: {"birth_year": years[user.username],
                                    "change_reason": f"Corrected from the source by {user.username}"})
    results = race([(alice, act), (bob, act)])
    winner, loser = split(results)
    assert CONFLICT in loser.content.decode()
    patient.refresh_from_db()
    assert str(patient.birth_year) == years[winner]
    assert patient.version == 2
    assert patient.history.count() == history_before + 1
    assert patient.history.first().history_change_reason == f"Corrected from the source by {winner}"


@pytest.mark.req("URS-PRO-006")
def test_cycle_form_two_sessions_one_wins(editors):
    alice, bob = editors
    patient = PatientFactory(site=alice.memberships.get().site, subject_id="01-001")
    cycle = full_cycle(patient)
    assessment = cycle.assessment
    history_before = assessment.history.count()
    ck = {"alice": "1800", "bob": "1700"}
    act = page_editor(f"/patients/{patient.pk}/cycles/{cycle.number}/", "assessment-expected_version",
                      lambda user: {"assessment-ck_u_per_l": ck[user.username],
                                    "change_reason": f"Lab report re-read by {user.username}"})
    results = race([(alice, act), (bob, act)])
    winner, loser = split(results)
    assert CONFLICT in loser.content.decode()
    assessment = Assessment.objects.get(pk=assessment.pk)
    assert assessment.ck_u_per_l == Decimal(ck[winner])
    assert assessment.version == 2
    assert assessment.history.count() == history_before + 1


def test_api_two_patches_same_if_match_one_200_one_412(editors):
    alice, bob = editors
    patient = PatientFactory(site=alice.memberships.get().site, subject_id="01-001", birth_year=1970)
    history_before = patient.history.count()
    years = {"alice": 1961, "bob": 1962}

    def act(user, barrier):
        client = APIClient()
        client.force_authenticate(user)
        etag = client.get(f"/api/v1/patients/{patient.pk}/")["ETag"]
        barrier.wait()
        return client.patch(f"/api/v1/patients/{patient.pk}/",
                            {"birth_year": years[user.username], "change_reason": f"API fix by {user.username}"},
                            format="json", HTTP_IF_MATCH=etag)

    results = race([(alice, act), (bob, act)])
    statuses = {name: r.status_code for name, r in results.items()}
    assert sorted(statuses.values()) == [200, 412], statuses
    winner = next(name for name, status in statuses.items() if status == 200)
    loser = results[next(name for name, status in statuses.items() if status == 412)]
    assert CONFLICT in loser.json()["detail"]
    patient = Patient.objects.get(pk=patient.pk)
    assert patient.birth_year == years[winner] and patient.version == 2
    assert patient.history.count() == history_before + 1
