"""Issue 12, finding 4: the application connects as a PostgreSQL role that owns
nothing (``manage.py grant_app_role``, run by the owner after ``migrate``).
Connected as that role, the ordinary writes of the application work, while
TRUNCATE, ALTER TABLE ... DISABLE TRIGGER, SET session_replication_role and
UPDATE/DELETE of a signature row are refused by PostgreSQL itself."""

import uuid

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction
from django.test import RequestFactory
from django.urls import reverse

from core.services import record_save
from oversight import db_role
from patients.models import Patient
from review import services as review_services
from review.models import ReviewInvalidation, Signature, SourceVerification
from tests.patients.factories import PatientFactory
from tests.visits.factories import full_cycle

from .test_review import PASSWORD, edit_weight

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL roles and privileges"),
    # Committed data and a second login: the grants must be visible to the new connection;
    # serialized_rollback puts back the migrations' data (role groups) before the test.
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

APP_PASSWORD = "app-role-test-password"


@pytest.fixture(scope="module", autouse=True)
def _migrated_data_back(restore_migrated_data):
    """This module's transactional tests flush the database (tests/conftest.py)."""


def _sql(statement):
    with connection.cursor() as cursor:
        cursor.execute(statement)


def _refusal(statement):
    """The database's error message when it refuses ``statement``, else None."""
    try:
        with transaction.atomic():
            _sql(statement)
    except DatabaseError as exc:
        return str(exc)
    return None


@pytest.fixture
def app_role():
    """A role unique to this run (parallel runs share the cluster), dropped afterwards."""
    role = f"ivig_app_test_{uuid.uuid4().hex[:12]}"
    yield role
    connection.close()
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
        if cursor.fetchone():
            cursor.execute(f'DROP OWNED BY "{role}"')
            cursor.execute(f'DROP ROLE "{role}"')


@pytest.fixture
def as_role(app_role):
    """Reconnect Django's connection as ``app_role`` for the test's body."""
    settings = connection.settings_dict
    saved = settings["USER"], settings["PASSWORD"]

    def switch():
        connection.close()
        settings["USER"], settings["PASSWORD"] = app_role, APP_PASSWORD
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_user")
            assert cursor.fetchone()[0] == app_role

    yield switch
    connection.close()
    settings["USER"], settings["PASSWORD"] = saved


@pytest.mark.req("URS-PRO-005")
def test_the_app_role_writes_rows_and_nothing_else(app_role, as_role, site_a, investigator, monitor, clinician,
                                                   client_for, monkeypatch):
    monkeypatch.setenv("APP_DATABASE_URL", f"postgres://{app_role}:{APP_PASSWORD}@127.0.0.1:5432/"
                                           f"{connection.settings_dict['NAME']}")
    call_command("grant_app_role", create=True)
    assert db_role.problems(app_role) == []
    grants = db_role.plan()
    assert {"core_signature", "core_sourceverification", "core_reviewinvalidation",
            "patients_historicalpatient", "oversight_accessevent"} <= set(grants.append_only)
    patient = PatientFactory(site=site_a, subject_id="01-001")
    cycle = full_cycle(patient)

    as_role()
    # The application's writes: a clinical change through the service, a signature, a
    # verification, a change that invalidates them (a new row each), a logged-in page.
    patient.sex = "M" if patient.sex == "F" else "F"
    record_save(instance=patient, reason="typo", user=clinician)
    request = RequestFactory().post("/")
    signature = review_services.record_sign(record=cycle, user=investigator, password=PASSWORD, request=request)
    review_services.cycle_verify(cycle=cycle, user=monitor)
    assert edit_weight(client_for(clinician), patient, cycle, "72").status_code == 302
    assert ReviewInvalidation.objects.count() == 2 and not Signature.objects.get().is_valid
    page = client_for(investigator).get(reverse("visits:timeline", args=[patient.pk]))
    assert page.status_code == 200 and "Signature invalidated" in page.content.decode()
    assert Patient.history.filter(id=patient.pk).count() >= 2

    # What it may not do, refused by PostgreSQL.
    refused = {
        "TRUNCATE core_signature": "permission denied",
        "TRUNCATE patients_historicalpatient": "permission denied",
        "ALTER TABLE core_signature DISABLE TRIGGER ALL": "must be owner",
        "ALTER TABLE core_signature DISABLE TRIGGER audit_append_only": "must be owner",
        "SET session_replication_role = replica": "permission denied",
        f"UPDATE core_signature SET data_hash = 'forged' WHERE id = {signature.pk}": "permission denied",
        "UPDATE core_reviewinvalidation SET reason = 'forged'": "permission denied",
        f"DELETE FROM core_signature WHERE id = {signature.pk}": "permission denied",
        "DELETE FROM core_reviewinvalidation": "permission denied",
        "DELETE FROM core_sourceverification": "permission denied",
        "CREATE TABLE forged (id int)": "permission denied",
        "DROP TABLE core_signature": "must be owner",
    }
    answers = {statement: _refusal(statement) for statement in refused}
    assert {s: (a or "ACCEPTED") for s, a in answers.items() if not a or refused[s] not in a} == {}
    assert Signature.objects.count() == 1 and SourceVerification.objects.count() == 1
    assert Signature.objects.get().data_hash == signature.data_hash


@pytest.mark.req("URS-PRO-005")
def test_grant_refuses_a_superuser_or_the_owner(app_role):
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        owner = cursor.fetchone()[0]
    with pytest.raises(CommandError, match="must not be the owner"):
        call_command("grant_app_role", role=owner)
    with pytest.raises(CommandError, match="does not exist"):
        call_command("grant_app_role", role=app_role)
    _sql(f'CREATE ROLE "{app_role}" LOGIN SUPERUSER')
    with pytest.raises(CommandError, match="is a superuser"):
        call_command("grant_app_role", role=app_role)
    _sql(f'ALTER ROLE "{app_role}" NOSUPERUSER')
    _sql(f'GRANT "{owner}" TO "{app_role}"')
    with pytest.raises(CommandError, match="owns tables"):
        call_command("grant_app_role", role=app_role)
    _sql(f'REVOKE "{owner}" FROM "{app_role}"')
    call_command("grant_app_role", role=app_role)  # fit now: granted
    assert db_role.problems(app_role) == []
