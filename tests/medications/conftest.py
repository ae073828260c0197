from datetime import date

import pytest

from medications.models import ConcomitantMedication
from medications.services import medication_save
from patients.services import patient_facts_refresh
from tests.patients.factories import PatientFactory
from tests.visits.factories import full_cycle


@pytest.fixture
def patient(site_a):
    """A patient whose first infusion is stored (``first_infusion_date``)."""
    patient = PatientFactory(site=site_a, subject_id="01-001", consent_date=date(2025, 3, 1),
                             enrolment_date=date(2025, 3, 10))
    full_cycle(patient)
    patient_facts_refresh(patient, reason="test: infusions entered")
    patient.refresh_from_db()
    assert patient.first_infusion_date is not None
    return patient


def medication(patient, **kwargs):
    data = dict(patient=patient, drug_name="Cortancyl", atc_code="H02AB07", indication="myositis",
                dose=20, dose_unit="mg", route="ORAL", frequency="QD", start_date=patient.first_infusion_date,
                ongoing=True)
    data.update(kwargs)
    return medication_save(medication=ConcomitantMedication(**data))
