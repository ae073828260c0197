"""visits.0006: existing deviation rows become chains, outputs unchanged, guard on.

Migrates the test database back to before the change, writes deviations the
old way (a resolved row and the open one after it, by UPDATE), migrates
forward and reads them through the new representation.
"""

from datetime import date

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from oversight import append_only

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.fixture(scope="module", autouse=True)
def _migrated_data_back(restore_migrated_data):
    """This module's transactional tests flush the database (tests/conftest.py)."""


BEFORE = [("visits", "0005_lot_product_ascii"), ("oversight", "0005_access_lockout_kinds"),
          ("patients", "0006_subject_id_ascii_digits"),  # before the stored patient facts
          ("accounts", "0010_verbose_names_translatable")]  # before the site's country (issue 17)


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def _latest():
    executor = MigrationExecutor(connection)
    return executor.loader.graph.leaf_nodes()


@pytest.mark.req("URS-CHG-002")
def test_existing_deviations_become_chains_and_the_guard_is_put_on():
    old = _migrate(BEFORE)
    try:
        Site = old.get_model("accounts", "Site")
        Patient = old.get_model("patients", "Patient")
        Cycle = old.get_model("visits", "TreatmentCycle")
        Deviation = old.get_model("visits", "ProtocolDeviation")
        site = Site.objects.create(code="01", name="Site 1")
        patient = Patient.objects.create(
            site=site, subject_id="01-001", sex="F", birth_year=1970, race="WHITE",
            consent_date=date(2025, 3, 1), enrolment_date=date(2025, 3, 10), symptom_onset_date=date(2024, 12, 1),
            suspected_cause="none", status="on_study")
        cycle = Cycle.objects.create(patient=patient, number=1, start_date=date(2025, 3, 17), weight_kg=70)
        first = Deviation.objects.create(patient=patient, cycle=cycle, kind="underdose", day=2, description="a")
        other = Deviation.objects.create(patient=patient, cycle=cycle, kind="window", day=0, description="w")
        Deviation.objects.filter(pk=first.pk).update(resolved_at="2025-03-20T10:00:00Z", resolution="fixed")
        again = Deviation.objects.create(patient=patient, cycle=cycle, kind="underdose", day=2, description="b")
    finally:
        _migrate(_latest())

    from visits.models import ProtocolDeviation

    rows = {d.pk: d for d in ProtocolDeviation.objects.all()}
    assert rows[first.pk].predecessor_id is None and rows[other.pk].predecessor_id is None
    assert rows[again.pk].predecessor_id == first.pk
    # The log as before: all three rows, one open per cause.
    assert set(ProtocolDeviation.objects.current().values_list("pk", flat=True)) == {first.pk, other.pk, again.pk}
    assert set(ProtocolDeviation.objects.open().values_list("pk", flat=True)) == {other.pk, again.pk}
    from django.apps import apps

    assert "visits_protocoldeviation" in append_only.protected_tables(connection)  # oversight.0006
    # SQLite drops a trigger when a migration rebuilds a table; the post_migrate receiver
    # (not sent by the executor) puts it back after a real migrate.
    append_only.ensure_protected(connection, apps)
    assert not set(append_only.audit_tables(apps)) - append_only.protected_tables(connection)
