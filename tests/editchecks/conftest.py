from datetime import date
from decimal import Decimal

import pytest

from tests.patients.factories import PatientFactory
from tests.visits.factories import AssessmentFactory, CycleFactory, InfusionFactory


@pytest.fixture
def patient(site_a):
    return PatientFactory(site=site_a, subject_id="01-001", consent_date=date(2025, 3, 1),
                          enrolment_date=date(2025, 3, 10))


@pytest.fixture
def cycle(patient):
    """Cycle 2 (2025-04-14, after the baseline cycle 1 of 2025-03-17) with a normal CK (150 U/L,
    upper limit 200) and both infusions."""
    baseline = CycleFactory(patient=patient, number=1)
    AssessmentFactory(cycle=baseline, patient=patient, ck_u_per_l=Decimal("2400"))  # active myositis
    cycle = CycleFactory(patient=patient, number=2)
    AssessmentFactory(cycle=cycle, patient=patient, ck_u_per_l=Decimal("150"))
    InfusionFactory(cycle=cycle, day=1)
    InfusionFactory(cycle=cycle, day=2)
    return cycle
