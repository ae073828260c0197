from datetime import date

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from core.services import StaleRecordError, record_save
from patients.models import MalignancyHistory, Patient
from patients.rules import Certainty, IIMClass
from tests.patients.factories import DiagnosisFactory, MalignancyFactory, PatientFactory

pytestmark = pytest.mark.django_db


def error_codes(exc):
    return {field: [e.code for e in errors] for field, errors in exc.error_dict.items()}


@pytest.mark.req("URS-PRT-001")
def test_clean_enforces_rules(site_a):
    patient = PatientFactory.build(site=site_a, subject_id="01-010", consent_date=date(2025, 4, 1))
    with pytest.raises(ValidationError) as exc:
        patient.full_clean()
    assert error_codes(exc.value)["consent_date"] == ["consent_after_enrolment"]


@pytest.mark.req("URS-CHK-006")
def test_subject_id_must_carry_the_site_prefix(site_a):
    patient = PatientFactory.build(site=site_a, subject_id="02-001")
    with pytest.raises(ValidationError) as exc:
        patient.full_clean()
    assert error_codes(exc.value)["subject_id"] == ["site_prefix"]


def test_subject_id_format(site_a):
    patient = PatientFactory.build(site=site_a, subject_id="1-1")
    with pytest.raises(ValidationError) as exc:
        patient.full_clean()
    assert "subject_id_format" in error_codes(exc.value)["subject_id"]


@pytest.mark.req("URS-CHK-003")
def test_database_constraint_backs_the_consent_rule(site_a):
    with pytest.raises(IntegrityError), transaction.atomic():
        PatientFactory(site=site_a, consent_date=date(2025, 4, 1))


@pytest.mark.req("URS-OPS-004")
def test_status_transition_checked_against_the_stored_status(site_a):
    patient = PatientFactory(site=site_a, status="on_study")
    patient = Patient.objects.get(pk=patient.pk)
    patient.status = "screening"
    with pytest.raises(ValidationError) as exc:
        patient.full_clean()
    assert error_codes(exc.value)["status"] == ["transition_not_allowed"]


def test_derived_values(site_a):
    patient = PatientFactory(site=site_a, birth_year=1970, enrolment_date=date(2025, 3, 10),
                             symptom_onset_date=date(2024, 12, 1))
    assert patient.age_at_enrolment == 54  # birthday imputed to 1 July
    assert str(patient.disease_duration_at_enrolment_months) == "3.3"
    assert patient.disease_duration_before_ivig_months is None  # no infusion yet


def test_diagnosis_derivations(site_a):
    dx = DiagnosisFactory(patient=PatientFactory(site=site_a, birth_year=1970,
                                                 symptom_onset_date=date(2024, 12, 1)))
    assert dx.rash is True
    assert dx.certainty == Certainty.DEFINITE  # rash + 3 of criteria 1-4
    # age 54 at onset (2.1) + heliotrope (3.1) + enzymes (1.3)
    assert str(dx.eular_acr_score) == "6.5"
    assert dx.eular_acr_class == IIMClass.PROBABLE


def test_dm_without_rash_is_a_field_error(site_a):
    dx = DiagnosisFactory.build(patient=PatientFactory(site=site_a), heliotrope_rash=False)
    with pytest.raises(ValidationError) as exc:
        dx.full_clean()
    assert error_codes(exc.value)["kind"] == ["dm_requires_rash"]


def test_malignancy_timing_before_any_infusion(site_a):
    m = MalignancyFactory(patient=PatientFactory(site=site_a))
    assert m.timing == "before"
    assert MalignancyHistory.objects.get(pk=m.pk).timing == "before"  # stored


@pytest.mark.req("URS-AUD-001")
def test_record_save_requires_a_reason_and_writes_history(site_a, clinician):
    patient = PatientFactory(site=site_a)
    patient.sex = "M"
    with pytest.raises(ValueError):
        record_save(instance=patient, reason="  ")
    record_save(instance=patient, reason="Transcription error", user=clinician)
    latest = patient.history.latest()
    assert latest.history_type == "~"
    assert latest.history_change_reason == "Transcription error"
    assert latest.history_user == clinician
    assert latest.sex == "M"
    assert Patient.objects.get(pk=patient.pk).version == 2


def test_record_save_refuses_a_stale_version(site_a):
    patient = PatientFactory(site=site_a)
    first = Patient.objects.get(pk=patient.pk)
    second = Patient.objects.get(pk=patient.pk)
    first.sex = "M"
    record_save(instance=first, reason="first editor")
    second.race = "ASIAN"
    with pytest.raises(StaleRecordError):
        record_save(instance=second, reason="second editor")
    stored = Patient.objects.get(pk=patient.pk)
    assert (stored.sex, stored.race, stored.version) == ("M", "WHITE", 2)
    assert stored.history.count() == 2  # create + first edit only
