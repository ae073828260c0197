"""Issue 12, findings 1 and 5, with real transactions and concurrent requests
(PostgreSQL only, like test_concurrency.py).

- Wrong e-signature passwords sent at the same moment, each committed for real:
  the failures stay in the database (nothing rolls them back with the refused
  signature), the account ends up locked and signs nothing, not even with the
  right password.
- A burst of anonymous failed logins from one address: the counter loses no
  failure and exactly LOGIN_FAILURE_AUDIT_ROWS of them are access events.
"""

import threading

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.db import connection, connections
from django.db.models import Sum
from django.test import Client
from django.urls import reverse

from oversight.models import AccessEvent, AccessKind, FailedLoginCount
from review.models import Signature
from tests.patients.factories import PatientFactory
from tests.visits.factories import full_cycle

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module", autouse=True)
def _migrated_data_back(restore_migrated_data):
    """This module's transactional tests flush the database (tests/conftest.py)."""


@pytest.fixture
def postgres(transactional_db):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (DATABASE_URL): real concurrent connections to one database")


def at_once(n, act):
    """Run ``act(i)`` in n threads released together; returns the results."""
    barrier = threading.Barrier(n, timeout=60)
    results, errors = [None] * n, []

    def run(i):
        try:
            barrier.wait()
            results[i] = act(i)
        except BaseException as exc:  # noqa: BLE001 - reported in the main thread
            errors.append(exc)
            barrier.abort()
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a request hung"
    if errors:
        raise errors[0]
    return results


@pytest.mark.req("URS-SIG-004")
def test_concurrent_wrong_signing_passwords_are_committed_and_lock(postgres, site_a, make_user):
    investigator = make_user("investigator", site_a, username="ivan")
    cycle = full_cycle(PatientFactory(site=site_a, subject_id="01-001"))
    url = reverse("oversight:cycle_sign", args=[cycle.pk])

    def guess(i):
        client = Client()
        client.force_login(investigator)
        return client.post(url, {"password": f"guess-{i}"}).status_code

    statuses = at_once(8, guess)
    assert set(statuses) <= {200, 429, 302}
    counted = AccessAttempt.objects.filter(username="ivan").aggregate(n=Sum("failures_since_start"))["n"]
    assert counted >= settings.AXES_FAILURE_LIMIT
    assert AccessEvent.objects.filter(kind=AccessKind.LOCKED_OUT, user=investigator).exists()
    client = Client()
    client.force_login(investigator)
    assert client.post(url, {"password": PASSWORD}).status_code == 429
    assert not Signature.objects.exists()


@pytest.mark.req("URS-INC-001")
def test_a_burst_of_anonymous_failures_loses_no_count(postgres):
    n = 20

    def fail(i):
        return Client(REMOTE_ADDR="203.0.113.9").post(
            "/accounts/login/", {"username": f"made-up-{i}", "password": "guess"}).status_code

    assert set(at_once(n, fail)) == {200}
    assert FailedLoginCount.objects.get().count == n
    assert AccessEvent.objects.filter(kind=AccessKind.LOGIN_FAILED).count() == settings.LOGIN_FAILURE_AUDIT_ROWS
