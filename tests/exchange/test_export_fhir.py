import importlib
import json
from collections import Counter
from datetime import date, time

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from fhir.resources.R4B.bundle import Bundle

from patients.models import MalignancyHistory, Patient
from exchange import datasets
from exchange.exports import get_format
from exchange.exports.fhir import LOINC, UCUM, fhir_bundle
from safety.models import AdverseEvent
from visits.models import Assessment, Infusion

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded(settings):
    settings.DEBUG = True
    call_command("seed_demo", verbosity=0)


def export(patients=None):
    return json.loads(b"".join(fhir_bundle(Patient.objects.all() if patients is None else patients)))


def resources(bundle, resource_type):
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == resource_type]


def resource_class(resource_type):
    return getattr(importlib.import_module(f"fhir.resources.R4B.{resource_type.lower()}"), resource_type)


def references(node):
    """Every ``reference`` string anywhere in a JSON tree."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                yield value
            else:
                yield from references(value)
    elif isinstance(node, list):
        for item in node:
            yield from references(item)


def subject_of(bundle, subject_id):
    [patient] = [r for r in resources(bundle, "Patient") if r["identifier"][0]["value"] == subject_id]
    return f"urn:uuid:{patient['id']}"


@pytest.mark.req("URS-CPY-004")
def test_bundle_and_every_entry_validate_with_fhir_resources(seeded):
    bundle = export()
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "collection"
    Bundle.model_validate(bundle)
    for item in bundle["entry"]:
        resource = item["resource"]
        resource_class(resource["resourceType"]).model_validate(resource)
        assert item["fullUrl"] == f"urn:uuid:{resource['id']}"


def test_resource_counts_match_the_demo_cohort(seeded):
    counts = Counter(e["resource"]["resourceType"] for e in export()["entry"])
    assert counts["ResearchStudy"] == 1
    assert counts["Patient"] == 11
    assert counts["ResearchSubject"] == 11
    assert counts["Condition"] == 11 + 4
    assert counts["MedicationAdministration"] == 87
    assert counts["AdverseEvent"] == 1
    assert "Medication" not in counts  # the only event is linked to an infusion
    assessments = Assessment.objects.current()
    lab_fields = ["ck_u_per_l", "aldolase_u_per_l", "ldh_u_per_l", "ast_u_per_l", "alt_u_per_l"]
    labs = sum(value is not None for row in assessments.values_list(*lab_fields) for value in row)
    assert labs >= 2 * 53  # every demo assessment has a CK and an LDH
    mmt = assessments.filter(mmt_total__isnull=False).count()
    # A lab value recorded as missing (core.missing) is an Observation with a dataAbsentReason.
    coded = sum(name in codes for codes in assessments.values_list("missing_codes", flat=True)
                for name in lab_fields)
    assert coded == 2  # the demo's aldolase not done / unknown
    assert counts["Observation"] == labs + coded + mmt + 44  # labs, MMT-8 totals, one weight per cycle


@pytest.mark.req("URS-CPY-004")
def test_ck_observation_has_loinc_ucum_and_the_database_value(seeded):
    bundle = export()
    patient = subject_of(bundle, "01-001")
    first = (Assessment.objects.current().filter(patient__subject_id="01-001")
             .order_by("assessment_date").first())
    [ck] = [o for o in resources(bundle, "Observation")
            if o["subject"]["reference"] == patient and o["code"]["coding"][0]["code"] == "2157-6"
            and o["effectiveDateTime"] == first.assessment_date.isoformat()]
    assert ck["code"]["coding"][0]["system"] == LOINC
    assert ck["valueQuantity"] == {"value": float(first.ck_u_per_l), "unit": "U/L", "system": UCUM,
                                   "code": "U/L"}
    assert ck["referenceRange"][0]["high"]["value"] == float(first.ck_uln_u_per_l)
    assert ck["status"] == "final"
    assert ck["category"][0]["coding"][0]["code"] == "laboratory"


@pytest.mark.req("URS-CPY-004")
def test_every_reference_resolves_to_an_entry(seeded):
    bundle = export()
    urls = {e["fullUrl"] for e in bundle["entry"]}
    assert len(urls) == len(bundle["entry"])
    found = list(references(bundle["entry"]))
    assert found and set(found) <= urls


def test_ids_are_stable_across_exports(seeded):
    first, second = export(), export()
    assert [e["fullUrl"] for e in first["entry"]] == [e["fullUrl"] for e in second["entry"]]
    assert first["entry"] == second["entry"]


@pytest.mark.req("URS-CPY-005")
def test_patients_are_de_identified(seeded):
    bundle = export()
    for patient in resources(bundle, "Patient"):
        assert "name" not in patient and "birthDate" not in patient
        assert set(patient) <= {"resourceType", "id", "identifier", "gender", "extension"}
    Patient.objects.filter(subject_id="01-001").update(birth_date=date(1985, 3, 7))
    text = b"".join(fhir_bundle(Patient.objects.all())).decode("utf-8")
    assert "birthDate" not in text and "1985-03-07" not in text
    enrolled = Patient.objects.get(subject_id="01-001")
    [age] = resources(bundle, "Patient")[0]["extension"]
    assert age["valueAge"]["value"] == enrolled.age_at_enrolment


def test_research_subject_and_diagnosis(seeded):
    bundle = export()
    study = resources(bundle, "ResearchStudy")[0]
    assert study["identifier"][0]["value"] == datasets.STUDY_OID
    assert study["arm"][0] == {"name": "IVIG",
                               "description": "1 g/kg on each of 2 consecutive days every 4 weeks"}
    assert {c["coding"][0]["code"] for c in study["condition"]} == {"31384009", "396230008"}
    statuses = {p.subject_id: p.status for p in Patient.objects.all()}
    patient_ids = {f"urn:uuid:{p['id']}": p["identifier"][0]["value"] for p in resources(bundle, "Patient")}
    expected = {"screening": "screening", "on_study": "on-study", "completed": "off-study",
                "withdrawn": "withdrawn"}
    for subject in resources(bundle, "ResearchSubject"):
        subject_id = patient_ids[subject["individual"]["reference"]]
        assert subject["status"] == expected[statuses[subject_id]]
    patient = Patient.objects.select_related("diagnosis").get(subject_id="01-001")
    [dx] = [c for c in resources(bundle, "Condition")
            if c["subject"]["reference"] == subject_of(bundle, "01-001") and "coding" in c["code"]]
    assert dx["code"]["coding"][0]["code"] == "396230008"  # 01-001 has DM
    assert dx["onsetDateTime"] == patient.symptom_onset_date.isoformat()
    # the diagnosis date is when it was asserted; recordedDate is when it was entered here
    assert dx["extension"] == [{"url": "http://hl7.org/fhir/StructureDefinition/condition-assertedDate",
                                "valueDateTime": patient.diagnosis.diagnosis_date.isoformat()}]
    assert dx["recordedDate"] == patient.diagnosis.created_at.isoformat(timespec="seconds")


@pytest.mark.req("URS-CPY-005")
def test_voided_records_are_left_out(seeded):
    MalignancyHistory.objects.filter(patient__subject_id="01-001").update(voided_at=timezone.now())
    AdverseEvent.objects.update(voided_at=timezone.now())
    counts = Counter(e["resource"]["resourceType"] for e in export()["entry"])
    assert counts["Condition"] == 11 + 3
    assert counts["AdverseEvent"] == 0


def test_adverse_event_points_at_its_infusion(seeded):
    bundle = export()
    [event] = resources(bundle, "AdverseEvent")
    ae = AdverseEvent.objects.select_related("infusion__cycle__patient").get()
    administrations = {f"urn:uuid:{m['id']}": m for m in resources(bundle, "MedicationAdministration")}
    suspect = administrations[event["suspectEntity"][0]["instance"]["reference"]]
    assert suspect["effectiveDateTime"] == ae.infusion.infusion_date.isoformat()
    assert event["severity"]["coding"][0]["code"] == "mild"
    assert event["seriousness"]["coding"][0]["code"] == "non-serious"
    assert event["outcome"]["coding"][0]["code"] == "resolved"
    assert event["suspectEntity"][0]["causality"][0]["assessment"]["text"] == "Probable / likely"
    assert event["event"]["text"] == ae.term and event["date"] == ae.onset_date.isoformat()


def test_adverse_event_without_infusion_names_the_ivig_medication(seeded):
    AdverseEvent.objects.update(infusion=None, grade=3, serious=True, serious_hospitalisation=True)
    bundle = export()
    Bundle.model_validate(bundle)
    [medication] = resources(bundle, "Medication")
    [event] = resources(bundle, "AdverseEvent")
    assert event["suspectEntity"][0]["instance"]["reference"] == f"urn:uuid:{medication['id']}"
    assert event["severity"]["coding"][0]["code"] == "severe"
    assert event["seriousness"]["coding"][0]["code"] == "serious"


def test_infusion_times_are_read_in_the_site_time_zone(seeded):
    infusion = Infusion.objects.filter(cycle__patient__subject_id="01-001").order_by("infusion_date").first()
    Infusion.objects.filter(pk=infusion.pk).update(start_time=time(9, 30), end_time=time(13, 0))
    bundle = export()
    patient = subject_of(bundle, "01-001")
    [given] = [m for m in resources(bundle, "MedicationAdministration")
               if m["subject"]["reference"] == patient and "effectivePeriod" in m]
    day = infusion.infusion_date.isoformat()  # January 2025, Europe/Paris: UTC+1
    assert given["effectivePeriod"] == {"start": f"{day}T09:30:00+01:00", "end": f"{day}T13:00:00+01:00"}
    assert given["dosage"]["dose"] == {"value": float(infusion.dose_g), "unit": "g", "system": UCUM,
                                       "code": "g"}
    assert given["dosage"]["route"]["coding"][0]["code"] == "47625008"
    assert given["medicationCodeableConcept"]["coding"][0]["code"] == "J06BA02"
    assert infusion.lot in given["note"][0]["text"]
    resource_class("MedicationAdministration").model_validate(given)


def test_empty_cohort_gives_the_study_only(seeded):
    bundle = export(Patient.objects.none())
    Bundle.model_validate(bundle)
    assert [e["resource"]["resourceType"] for e in bundle["entry"]] == ["ResearchStudy"]


def test_empty_database_gives_the_study_only():
    bundle = export()
    Bundle.model_validate(bundle)
    [entry] = bundle["entry"]
    assert entry["resource"]["status"] == "active"


def test_query_count_does_not_grow_with_the_cohort(seeded):
    def queries(patients):
        with CaptureQueriesContext(connection) as captured:
            for _ in fhir_bundle(patients):
                pass
        return len(captured)

    everyone = queries(Patient.objects.all())
    assert everyone == queries(Patient.objects.filter(subject_id="01-001"))
    assert everyone <= 9  # study status + one query per resource family (MedicationStatement: issue 17)


def test_streams_in_chunks_and_is_registered(seeded):
    chunks = list(get_format("fhir").stream(Patient.objects.all()))
    assert all(isinstance(c, bytes) for c in chunks)
    assert len(chunks) > 1  # not one buffer holding the whole Bundle
    assert chunks[0].startswith(b'{"resourceType":"Bundle"')
    assert chunks[-1].endswith(b"]}")
