"""patients.0007 + visits.0007/0008: existing ticked risks hold from enrolment, and
the existing cycles and infusions get their stored facts from the rules functions.

Migrates the test database back to before the change, writes rows the old way,
migrates forward and reads the stored facts.
"""

from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from visits import rules

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.fixture(scope="module", autouse=True)
def _migrated_data_back(restore_migrated_data):
    """This module's transactional tests flush the database (tests/conftest.py)."""


#: (accounts before the site's country, issue 17: the old code writes sites without it)
BEFORE = [("visits", "0006_deviation_rows_append_only"), ("patients", "0006_subject_id_ascii_digits"),
          ("accounts", "0010_verbose_names_translatable")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def _latest():
    executor = MigrationExecutor(connection)
    return executor.loader.graph.leaf_nodes()


@pytest.mark.req("URS-CHG-002")
def test_existing_rows_get_their_facts_from_the_rules():
    old = _migrate(BEFORE)
    try:
        Site = old.get_model("accounts", "Site")
        Patient = old.get_model("patients", "Patient")
        Cycle = old.get_model("visits", "TreatmentCycle")
        Infusion = old.get_model("visits", "Infusion")
        site = Site.objects.create(code="01", name="Site 1")
        patient = Patient.objects.create(
            site=site, subject_id="01-001", sex="F", birth_year=1970, race="WHITE",
            consent_date=date(2025, 3, 1), enrolment_date=date(2025, 3, 10), symptom_onset_date=date(2024, 12, 1),
            suspected_cause="none", status="on_study", thrombotic_risk=True)
        first = Cycle.objects.create(patient=patient, number=1, start_date=date(2025, 3, 17), weight_kg=100,
                                     height_cm=Decimal("165.1"), dosing_basis="adjusted")
        second = Cycle.objects.create(patient=patient, number=2, start_date=date(2025, 4, 30), weight_kg=70)
        Infusion.objects.create(cycle=second, day=1, infusion_date=date(2025, 4, 30), lot="L", volume_ml=600,
                                dose_g=60, max_rate_ml_per_h=150)
    finally:
        _migrate(_latest())

    from patients.models import Patient as NewPatient
    from visits.models import Infusion as NewInfusion, TreatmentCycle

    assert NewPatient.objects.get(pk=patient.pk).thrombotic_risk_since == date(2025, 3, 10)
    first, second = TreatmentCycle.objects.filter(patient_id=patient.pk).order_by("number")
    assert (first.dosing_weight_kg, first.prescribed_daily_dose_g, first.planned_start_date) == (
        Decimal("74.2"), Decimal("74.2"), None)
    assert (second.planned_start_date, second.window_offset_days, second.within_window, second.at_risk) == (
        date(2025, 4, 14), 16, False, True)
    assert first.rules_version == second.rules_version == rules.RULES_VERSION
    day1 = NewInfusion.objects.get(cycle_id=second.pk)
    assert (day1.prescribed_dose_g, day1.dose_difference_pct, day1.dose_within_tolerance) == (
        Decimal("70.0"), Decimal("-14.3"), False)
    assert (day1.rate_ml_per_kg_min, day1.rate_limit_ml_per_kg_min, day1.rate_within_limit) == (
        Decimal("0.036"), rules.MAX_RATE_AT_RISK_ML_PER_KG_MIN, False)
