"""FHIR conformance: every resource of the Bundle validates against R4B (fhir.resources),
and dates sit in the elements R4B defines for them: onsets in ``onset[x]``, never in
``recordedDate`` (when the record was entered)."""

import importlib
import json

import pytest
from fhir.resources.R4B.bundle import Bundle

from exchange.exports.fhir import CONDITION_ASSERTED_DATE, fhir_bundle
from patients.models import Diagnosis, MalignancyHistory
from safety.models import AdverseEvent

from .test_sdtm_conformance import build_cohort

pytestmark = pytest.mark.django_db


@pytest.fixture
def bundle():
    return json.loads(b"".join(fhir_bundle(build_cohort())))


def resources(bundle, kind):
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


@pytest.mark.req("URS-CPY-004")
def test_every_resource_validates_against_r4b(bundle):
    Bundle.model_validate(bundle)
    kinds = set()
    for item in bundle["entry"]:
        resource = item["resource"]
        kind = resource["resourceType"]
        kinds.add(kind)
        model = getattr(importlib.import_module(f"fhir.resources.R4B.{kind.lower()}"), kind)
        model.model_validate(resource)
    assert {"ResearchStudy", "Patient", "ResearchSubject", "Condition", "Observation",
            "MedicationAdministration", "AdverseEvent"} <= kinds


def test_conditions_carry_their_onset_in_onset_datetime(bundle):
    conditions = resources(bundle, "Condition")
    diagnoses = {d.created_at.isoformat(timespec="seconds") + d.patient.symptom_onset_date.isoformat(): d
                 for d in Diagnosis.objects.select_related("patient")}
    malignancies = {m.malignancy_type: m for m in MalignancyHistory.objects.current()}
    assert len(conditions) == Diagnosis.objects.count() + len(malignancies) == 5
    for condition in conditions:
        assert "onsetDateTime" in condition
        assert "T" in condition["recordedDate"]  # the entry's instant, not a clinical date
        [asserted] = [e for e in condition["extension"] if e["url"] == CONDITION_ASSERTED_DATE]
        if "coding" in condition["code"]:  # PM/DM: onset = first symptom, asserted = diagnosis
            diagnosis = diagnoses[condition["recordedDate"] + condition["onsetDateTime"]]
            assert asserted["valueDateTime"] == diagnosis.diagnosis_date.isoformat()
        else:  # a malignancy: onset = its diagnosis date
            malignancy = malignancies[condition["code"]["text"]]
            assert condition["onsetDateTime"] == malignancy.diagnosis_date.isoformat() == asserted["valueDateTime"]
            assert condition["recordedDate"] == malignancy.created_at.isoformat(timespec="seconds")


def test_adverse_events_date_detected_and_recorded(bundle):
    events = {e["event"]["text"]: e for e in resources(bundle, "AdverseEvent")}
    for ae in AdverseEvent.objects.all():
        event = events[ae.term]
        assert event["date"] == ae.onset_date.isoformat()  # when it occurred
        assert event["recordedDate"] == ae.created_at.isoformat(timespec="seconds")
        if ae.aware_at:
            assert event["detected"] == ae.aware_at.isoformat(timespec="seconds")
    assert "detected" in events["Pulmonary embolism"]


def test_observations_and_administrations_have_their_effective_time(bundle):
    for observation in resources(bundle, "Observation"):
        assert "effectiveDateTime" in observation
    for administration in resources(bundle, "MedicationAdministration"):
        assert "effectiveDateTime" in administration or "effectivePeriod" in administration
