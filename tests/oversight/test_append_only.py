"""The audit tables refuse UPDATE (and DELETE on PostgreSQL) at the database level.

The test database is built by the migrations, so the triggers are there.
"""

import pytest
from django.apps import apps
from django.db import DatabaseError, connection, transaction
from django.db.models.deletion import ProtectedError
from django.urls import reverse

from core.services import record_save
from oversight import append_only
from oversight.models import AccessEvent, AccessKind
from patients.models import Patient
from reporting.models import ExportLog
from tests.accounts.factories import UserFactory
from tests.patients.factories import PatientFactory

pytestmark = pytest.mark.django_db

postgresql_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL trigger")
sqlite_only = pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite trigger")

HISTORY = "patients_historicalpatient"


def _refused(sql, params=()):
    """True when the statement is refused by the database (and the test's
    transaction is still usable afterwards)."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, params)
    except DatabaseError as exc:
        assert "append-only" in str(exc)
        return True
    return False


@pytest.fixture
def history_row(site_a, clinician):
    patient = record_save(instance=PatientFactory.build(site=site_a, subject_id="01-001"), user=clinician)
    return Patient.history.get(id=patient.pk)


@pytest.mark.req("URS-AUD-003")
def test_every_audit_table_carries_the_trigger():
    tables = append_only.audit_tables(apps)
    assert {"patients_historicalpatient", "visits_historicalinfusion", "safety_historicaladverseevent",
            "accounts_historicalmembership", "accounts_historicalsite", "oversight_accessevent",
            "reporting_exportlog"} <= set(tables)
    history_tables = {m.history.model._meta.db_table for m in apps.get_models() if hasattr(m, "history")
                      and hasattr(m.history, "model")}
    assert history_tables <= set(tables)
    missing = set(tables) - append_only.protected_tables(connection)
    assert not missing, f"add oversight.append_only.protect_tables_operation{tuple(sorted(missing))} to a migration"


def test_inserting_still_works(history_row, clinician):
    patient = Patient.objects.get(pk=history_row.id)
    patient.sex = "M"
    record_save(instance=patient, reason="Source document", user=clinician)
    assert [r.history_type for r in patient.history.all()] == ["~", "+"]
    AccessEvent.objects.record(kind=AccessKind.LOGIN, username="nurse")
    assert AccessEvent.objects.count() == 1


@pytest.mark.parametrize("table", [HISTORY, "oversight_accessevent", "reporting_exportlog"])
@pytest.mark.req("URS-AUD-003")
def test_update_is_refused(history_row, table, admin_user):
    AccessEvent.objects.record(kind=AccessKind.LOGIN, username="nurse")
    ExportLog.objects.create(user=admin_user, format="csv")
    assert _refused(f"UPDATE {table} SET id = id")
    assert _refused(f"UPDATE {table} SET id = id") is True  # the transaction is still usable


def test_orm_update_of_history_is_refused(history_row):
    with pytest.raises(DatabaseError), transaction.atomic():
        Patient.history.filter(history_id=history_row.history_id).update(history_change_reason="rewritten")
    with pytest.raises(DatabaseError), transaction.atomic():
        history_row.history_change_reason = "rewritten"
        history_row.save()
    assert Patient.history.get(history_id=history_row.history_id).history_change_reason is None


@postgresql_only
@pytest.mark.parametrize("table", [HISTORY, "oversight_accessevent", "reporting_exportlog"])
@pytest.mark.req("URS-AUD-003")
def test_delete_is_refused_on_postgresql(history_row, table, admin_user):
    AccessEvent.objects.record(kind=AccessKind.LOGIN, username="nurse")
    ExportLog.objects.create(user=admin_user, format="csv")
    assert _refused(f"DELETE FROM {table}")
    with pytest.raises(DatabaseError), transaction.atomic():
        history_row.delete()
    assert Patient.history.filter(history_id=history_row.history_id).exists()


@postgresql_only
def test_postgresql_raises_an_internal_error(history_row):
    from django.db.utils import InternalError

    with pytest.raises(InternalError, match="append-only: UPDATE on patients_historicalpatient"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"UPDATE {HISTORY} SET history_change_reason = 'x'")


@sqlite_only
def test_sqlite_aborts_an_update(history_row):
    from django.db.utils import IntegrityError

    with pytest.raises(IntegrityError, match="append-only: UPDATE on patients_historicalpatient"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"UPDATE {HISTORY} SET history_change_reason = 'x'")


@pytest.mark.req("URS-AUD-003")
def test_a_user_who_wrote_history_cannot_be_deleted(history_row, clinician):
    # history_user is SET NULL on delete: an UPDATE of history rows, refused.
    with pytest.raises(DatabaseError), transaction.atomic():
        clinician.delete()
    nurse = UserFactory(username="nurse")
    AccessEvent.objects.record(kind=AccessKind.LOGIN, user=nurse)
    with pytest.raises(ProtectedError):
        nurse.delete()


@pytest.mark.req("URS-CHG-002")
def test_the_guard_can_be_lifted_by_a_migration_and_is_restored_after_migrate(history_row):
    append_only.unprotect_tables(connection, [HISTORY])
    assert HISTORY not in append_only.protected_tables(connection)
    assert not _refused(f"UPDATE {HISTORY} SET id = id")
    append_only.ensure_protected(connection, apps)  # what the post_migrate receiver does
    assert HISTORY in append_only.protected_tables(connection)
    assert _refused(f"UPDATE {HISTORY} SET id = id")


@pytest.mark.req("URS-AUD-003")
def test_admin_revert_never_edits_history_rows(client_for, admin_user, history_row):
    """The simple-history "Revert" page is a change form for the LIVE record, filled
    with an old version. Clinical records are read-only in the admin: the page is
    viewable, its POST is refused, and no history row is written or updated."""
    patient = Patient.objects.get(pk=history_row.id)
    patient.sex = "M"
    record_save(instance=patient, reason="Source document", user=admin_user)
    before = list(Patient.history.filter(id=patient.pk).order_by("history_id").values())
    url = reverse("admin:patients_patient_simple_history", args=[patient.pk, history_row.history_id])
    client = client_for(admin_user)
    assert client.get(url).status_code == 200
    data = {
        "subject_id": "01-001", "site": patient.site_id, "sex": "F", "birth_year": 1971, "race": "WHITE",
        "consent_date": "2025-03-01", "enrolment_date": "2025-03-10", "symptom_onset_date": "2024-12-01",
        "active_myopathy": "on", "suspected_cause": "none", "status": "on_study",
        "expected_version": Patient.objects.get(pk=patient.pk).version, "change_reason": "Reverted",
    }
    assert client.post(url, data).status_code == 403
    assert list(Patient.history.filter(id=patient.pk).order_by("history_id").values()) == before
