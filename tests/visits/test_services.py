from datetime import date, timedelta
from decimal import Decimal

import pytest

from patients.services import patient_save
from tests.patients.factories import PatientFactory
from tests.visits.factories import full_cycle
from visits.models import ProtocolDeviation, TreatmentCycle
from visits.services import CycleParts, cycle_save, deviations_refresh

pytestmark = pytest.mark.django_db


@pytest.fixture
def patient(site_a):
    return PatientFactory(site=site_a, subject_id="01-001", consent_date=date(2025, 2, 20),
                          enrolment_date=date(2025, 3, 1))


def test_moving_a_cycle_rechecks_the_next_cycle_window(patient):
    first = full_cycle(patient, number=1)
    full_cycle(patient, number=2)
    deviations_refresh(cycle=TreatmentCycle.objects.get(number=2), reason="entry")
    assert not ProtocolDeviation.objects.exists()
    # Cycle 1 really started 10 days earlier: cycle 2 now falls outside its window.
    first.start_date -= timedelta(days=10)
    parts = CycleParts(cycle=first, expected_versions={"cycle": first.version})
    first.assessment.assessment_date = first.start_date
    parts.assessment = first.assessment
    parts.expected_versions["assessment"] = first.assessment.version
    day1 = first.infusions.get(day=1)
    day1.infusion_date = first.start_date
    parts.infusions = {1: day1}
    parts.expected_versions["day1"] = day1.version
    cycle_save(parts=parts, reason="Date corrected from the infusion chart")
    deviations = list(ProtocolDeviation.objects.all())
    kinds = sorted((d.cycle.number, d.kind) for d in deviations)
    assert kinds == [(1, "non_consecutive"), (2, "window")]


def test_risk_flag_lowers_the_rate_limit(patient):
    cycle = full_cycle(patient)  # 150 mL/h at 70 kg = 0.036 mL/kg/min
    assert deviations_refresh(cycle=cycle, reason="entry") == []
    patient.thrombotic_risk = True
    patient.thrombotic_risk_since = patient.enrolment_date  # known before the cycle
    patient_save(instance=patient, reason="Prior DVT found in the notes")
    # The patient edit re-judged the cycle (patients.services -> visits hook), with the reason.
    cycle = TreatmentCycle.objects.select_related("patient").get(pk=cycle.pk)
    assert cycle.at_risk and cycle.history.first().history_change_reason.endswith("Prior DVT found in the notes")
    found = list(cycle.deviations.open().order_by("day"))
    assert [(d.kind, d.day) for d in found] == [("rate", 1), ("rate", 2)]


def test_adjusted_body_weight_drives_the_prescription(patient):
    cycle = full_cycle(patient, weight_kg=Decimal("100"), height_cm=Decimal("165.1"), dosing_basis="adjusted")
    assert cycle.dosing_weight_kg == Decimal("74.2")  # female IBW 57 + 0.4 x (100 - 57)
    assert cycle.prescribed_daily_dose_g == Decimal("74.2")
    found = deviations_refresh(cycle=cycle, reason="entry")
    assert {d.kind for d in found} == {"overdose"}  # 100 g given on 74.2 kg
    assert date(2025, 3, 17) == cycle.start_date
