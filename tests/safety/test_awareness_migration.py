"""safety.0006: existing events get their awareness (their entry as a serious
event), the due time 24 hours later, no late flag, and the rules version.

Migrates the test database back to before the SAE clock, writes events the old
way (one entered serious, one made serious by a later correction, one not
serious), migrates forward and reads the stored facts.
"""

from datetime import date, datetime, timedelta, timezone

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.fixture(scope="module", autouse=True)
def _migrated_data_back(restore_migrated_data):
    """This module's transactional tests flush the database (tests/conftest.py)."""


BEFORE = [("safety", "0004_review_permissions")]
CREATED = datetime(2025, 3, 20, 9, 0, tzinfo=timezone.utc)
UPGRADED = datetime(2025, 3, 23, 15, 30, tzinfo=timezone.utc)


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def _event(AdverseEvent, History, patient, term, *, serious, upgraded=False):
    values = dict(patient=patient, term=term, onset_date=date(2025, 3, 18), grade=3, relatedness="possible",
                  action_taken="none", outcome="recovering")
    values["patient_id"] = values.pop("patient").pk  # a patient of today's model, the event of the old state
    event = AdverseEvent.objects.create(serious=serious, serious_hospitalisation=serious, **values)
    AdverseEvent.objects.filter(pk=event.pk).update(created_at=CREATED)
    History.objects.create(id=event.pk, history_date=CREATED, history_type="+", version=1, created_at=CREATED,
                           updated_at=CREATED, serious=serious and not upgraded,
                           serious_hospitalisation=serious and not upgraded, **values)
    if upgraded:
        History.objects.create(id=event.pk, history_date=UPGRADED, history_type="~", version=2,
                               created_at=CREATED, updated_at=UPGRADED, serious=True,
                               serious_hospitalisation=True, **values)
    return event.pk


@pytest.mark.req("URS-CHG-002")
def test_existing_events_take_their_entry_as_awareness():
    old = _migrate(BEFORE)
    try:
        # Sites and patients are at their latest migration (only safety went back): today's models.
        from accounts.models import Site
        from patients.models import Patient

        AdverseEvent = old.get_model("safety", "AdverseEvent")
        History = old.get_model("safety", "HistoricalAdverseEvent")
        site = Site.objects.create(code="01", name="Site 1")
        patient = Patient.objects.create(
            site=site, subject_id="01-001", sex="F", birth_year=1970, race="WHITE",
            consent_date=date(2025, 3, 1), enrolment_date=date(2025, 3, 10), symptom_onset_date=date(2024, 12, 1),
            suspected_cause="none", status="on_study")
        serious = _event(AdverseEvent, History, patient, "Meningitis", serious=True)
        upgraded = _event(AdverseEvent, History, patient, "Thrombosis", serious=True, upgraded=True)
        minor = _event(AdverseEvent, History, patient, "Headache", serious=False)
    finally:
        _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

    from safety.models import AdverseEvent

    rows = {e.pk: e for e in AdverseEvent.objects.all()}
    assert (rows[serious].aware_at, rows[serious].sae_entered_at) == (CREATED, CREATED)
    assert rows[serious].report_due_at == CREATED + timedelta(hours=24)
    # Made serious by a correction: its clock runs from that correction, not from the first entry.
    assert (rows[upgraded].aware_at, rows[upgraded].sae_entered_at) == (UPGRADED, UPGRADED)
    assert rows[upgraded].report_due_at == UPGRADED + timedelta(hours=24)
    assert (rows[minor].aware_at, rows[minor].sae_entered_at, rows[minor].report_due_at) == (CREATED, None, None)
    assert not any(e.reported_late for e in rows.values())
    assert {e.rules_version for e in rows.values()} == {"2026.12"}
