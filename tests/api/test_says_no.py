"""Issue 17, point 7: the API says no. Unknown and read-only input is a 400 naming
the field (nothing stored); an MMT-8 total without its grades is kept as the
reported total (``mmt_total_reported``) and read everywhere through
``visits.rules.mmt_total``; sites are named by code; decimals accept JSON numbers."""

from decimal import Decimal

import pytest

from exchange import datasets
from patients.models import Patient
from tests.api.conftest import codes_of
from tests.api.test_records import infusion_json, patient_json
from tests.visits.factories import CycleFactory
from visits import rules
from visits.models import Assessment, TreatmentCycle

pytestmark = pytest.mark.django_db

GRADES = {name: 7 for name in Assessment.GRADE_FIELDS}


def cycle_json(patient, **assessment):
    return {"patient": patient.pk, "start_date": "2025-03-17", "weight_kg": "70.0", "dosing_basis": "actual",
            "assessment": {"assessment_date": "2025-03-17", "mmt_scale": "kendall", "ck_u_per_l": "2400",
                           "ck_uln_u_per_l": "200", **assessment},
            "infusions": [infusion_json(1, 70, "2025-03-17"), infusion_json(2, 70, "2025-03-18")]}


# --- Unknown and read-only fields -------------------------------------------------------

@pytest.mark.req("URS-DAT-005")
def test_an_unknown_field_is_a_400_naming_it_and_nothing_is_stored(api_for, clinician, site_a):
    response = api_for(clinician).post("/api/v1/patients/", patient_json(site_a, sexe="F"), format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"sexe": [{"message": "Unknown field.", "code": "unknown_field"}]}
    assert not Patient.objects.exists()


def test_unknown_fields_nested_in_a_cycle_are_named_by_their_path(api_for, clinician, patient):
    body = cycle_json(patient, **GRADES, ck_u_per_L="12")
    body["infusions"][1]["rate"] = "150"
    response = api_for(clinician).post("/api/v1/cycles/", body, format="json")
    assert response.status_code == 400
    assert codes_of(response) == {"assessment.ck_u_per_L": ["unknown_field"], "infusions.1.rate": ["unknown_field"]}
    assert not TreatmentCycle.objects.exists() and not Assessment.objects.exists()


def test_unknown_fields_with_other_errors_are_all_reported(api_for, clinician, site_a):
    response = api_for(clinician).post("/api/v1/patients/", patient_json(site_a, birth_year="x", colour="blue"),
                                       format="json")
    assert codes_of(response) == {"birth_year": ["invalid"], "colour": ["unknown_field"]}


def test_unknown_fields_on_update_and_on_actions(api_for, clinician, patient):
    client = api_for(clinician)
    response = client.patch(f"/api/v1/patients/{patient.pk}/", {"version": 1, "change_reason": "typo",
                                                                 "sex": "M", "gender": "M"}, format="json")
    assert response.status_code == 400 and codes_of(response) == {"gender": ["unknown_field"]}
    response = client.post(f"/api/v1/patients/{patient.pk}/withdraw/", {
        "version": 1, "withdrawal_date": "2025-04-01", "withdrawal_reason": "moved", "why": "x"}, format="json")
    assert response.status_code == 400 and codes_of(response) == {"why": ["unknown_field"]}
    patient.refresh_from_db()
    assert patient.sex == "F" and patient.status != "withdrawn" and patient.version == 1


def test_unknown_field_on_void_and_on_a_data_query(api_for, clinician, monitor, patient):
    cycle = CycleFactory(patient=patient)
    assessment = Assessment.objects.create(patient=patient, cycle=cycle, assessment_date=cycle.start_date)
    response = api_for(clinician).post(f"/api/v1/assessments/{assessment.pk}/void/", {
        "version": assessment.version, "void_reason": "duplicate", "voided_by": "me"}, format="json")
    assert response.status_code == 400 and codes_of(response) == {"voided_by": ["unknown_field"]}
    assessment.refresh_from_db()
    assert assessment.voided_at is None
    response = api_for(monitor).post("/api/v1/data-queries/", {
        "patient": patient.pk, "target": f"patient:{patient.pk}:sex", "question": "?", "priority": 1},
        format="json")
    assert response.status_code == 400 and codes_of(response) == {"priority": ["unknown_field"]}


@pytest.mark.req("URS-DAT-005")
def test_a_derived_total_sent_by_the_client_is_refused_not_ignored(api_for, clinician, patient):
    response = api_for(clinician).post("/api/v1/cycles/", cycle_json(patient, mmt_total=56), format="json")
    assert response.status_code == 400
    [error] = response.json()["errors"]["assessment.mmt_total"]
    assert error["code"] == "read_only" and "derived from the eight grades" in error["message"]
    assert not Assessment.objects.exists()


def test_an_update_may_send_read_only_fields_back_unchanged(api_for, clinician, patient):
    client = api_for(clinician)
    body = client.get(f"/api/v1/patients/{patient.pk}/").json()
    response = client.put(f"/api/v1/patients/{patient.pk}/", {**body, "sex": "M", "change_reason": "typo"},
                          format="json")
    assert response.status_code == 200, response.json()
    response = client.patch(f"/api/v1/patients/{patient.pk}/", {
        "version": 2, "change_reason": "x", "age_at_enrolment": 12}, format="json")
    assert response.status_code == 400 and codes_of(response) == {"age_at_enrolment": ["read_only"]}


# --- An MMT-8 total without its grades ----------------------------------------------------

@pytest.mark.req("URS-PRT-015")
def test_a_total_alone_is_stored_as_the_reported_total_and_read_as_the_total(api_for, clinician, patient):
    response = api_for(clinician).post("/api/v1/cycles/", cycle_json(patient, mmt_total_reported=62), format="json")
    assert response.status_code == 201, response.json()
    assessment = response.json()["assessment"]
    assert (assessment["mmt_total_reported"], assessment["mmt_total"], assessment["mmt_total_source"]) == (
        62, 62, "reported")
    stored = Assessment.objects.get()
    assert (stored.mmt_total_reported, stored.mmt_total) == (62, 62)
    # The exports (CSV, SDTM FT, FHIR) read the dataset's stored total, the report the stored column.
    [row] = datasets.assessment_rows(Patient.objects.all())
    assert (row["mmt_total"], row["mmt_total_reported"]) == (62, 62)
    assert all(row[name] is None for name in Assessment.GRADE_FIELDS)


@pytest.mark.req("URS-PRT-015")
def test_the_grades_make_the_total(api_for, clinician, patient):
    response = api_for(clinician).post("/api/v1/cycles/", cycle_json(patient, **GRADES), format="json")
    assessment = response.json()["assessment"]
    assert (assessment["mmt_total"], assessment["mmt_total_reported"], assessment["mmt_total_source"]) == (
        56, None, "grades")


@pytest.mark.req("URS-CHK-001")
def test_grades_and_a_total_together_are_refused(api_for, clinician, patient):
    response = api_for(clinician).post("/api/v1/cycles/", cycle_json(patient, **GRADES, mmt_total_reported=56),
                                       format="json")
    assert response.status_code == 400
    assert codes_of(response) == {"assessment.mmt_total_reported": ["grades_and_total"]}
    assert not Assessment.objects.exists()


@pytest.mark.req("URS-CHK-001")
def test_a_reported_total_beyond_the_scale_is_refused(api_for, clinician, patient):
    response = api_for(clinician).post("/api/v1/cycles/", cycle_json(patient, mmt_scale="mrc", mmt_total_reported=41),
                                       format="json")
    assert codes_of(response) == {"assessment.mmt_total_reported": ["total_out_of_scale"]}


def test_the_total_rule():
    assert rules.mmt_total([7] * 8) == 56
    assert rules.mmt_total([None] * 8, 40) == 40
    assert rules.mmt_total([7] * 7 + [None], 40) is None  # never a mix
    assert rules.mmt_total_source([None] * 8, 40) == "reported"
    assert rules.mmt_total_source([None] * 8) is None


# --- Sites by code ----------------------------------------------------------------------------

def test_a_patient_enrolled_at_a_site_named_by_its_code(api_for, clinician, site_a):
    response = api_for(clinician).post("/api/v1/patients/", {**patient_json(site_a), "site": "01"}, format="json")
    assert response.status_code == 201, response.json()
    assert (response.json()["site"], response.json()["site_code"]) == (site_a.pk, "01")


def test_a_site_id_is_a_json_integer_and_a_code_a_string(api_for, clinician, site_a, site_b):
    client = api_for(clinician)
    response = client.post("/api/v1/patients/", patient_json(site_a), format="json")
    assert response.status_code == 201
    for site in ("99", "1", "ab", str(site_b.code), site_b.pk):  # unknown and another site: the same error
        response = client.post("/api/v1/patients/", {**patient_json(site_a, subject_id="01-102"), "site": site},
                               format="json")
        assert codes_of(response) == {"site": ["does_not_exist"]}, site
    assert codes_of(client.post("/api/v1/patients/", {**patient_json(site_a, subject_id="01-102"), "site": True}, format="json")) == {
        "site": ["incorrect_type"]}


def test_lists_filter_by_site_code(api_for, coordinator, clinician, site_a, site_b):
    from tests.patients.factories import PatientFactory

    PatientFactory(site=site_a, subject_id="01-001")
    PatientFactory(site=site_b, subject_id="02-001")
    rows = api_for(coordinator).get("/api/v1/patients/", {"site": "02"}).json()["results"]
    assert [r["subject_id"] for r in rows] == ["02-001"]
    for value in ("99", "2", str(site_b.pk)):
        assert codes_of(api_for(coordinator).get("/api/v1/patients/", {"site": value})) == {"site": ["invalid"]}, value
    # a site outside the user's is the same error as no such site
    assert codes_of(api_for(clinician).get("/api/v1/patients/", {"site": "02"})) == {"site": ["invalid"]}
    assert codes_of(api_for(clinician).get("/api/v1/patients/", {"site": "99"})) == {"site": ["invalid"]}


# --- Decimals as JSON numbers ---------------------------------------------------------------

@pytest.mark.parametrize("value, stored", [
    (72.5, Decimal("72.5")), (72, Decimal("72")), (1e2, Decimal("100")), ("72.5", Decimal("72.5")),
    (0.1, Decimal("0.1")),
])
def test_decimals_as_numbers_or_strings(api_for, clinician, patient, value, stored):
    response = api_for(clinician).post("/api/v1/cycles/", {
        "patient": patient.pk, "start_date": "2025-03-17", "weight_kg": value}, format="json")
    assert response.status_code == 201, response.json()
    assert TreatmentCycle.objects.get().weight_kg == stored


@pytest.mark.parametrize("value, code", [
    (float("nan"), "invalid"), (float("inf"), "invalid"), (True, "invalid"), (72.55, "max_decimal_places"),
    (123456.0, "max_digits"), (10**30, "max_digits"), ("NaN", "invalid"), ([72], "invalid"),
])
def test_bad_decimals_are_field_errors(api_for, clinician, patient, value, code):
    from api.serializers import StrictDecimalField

    field = StrictDecimalField(max_digits=5, decimal_places=1)
    with pytest.raises(Exception) as caught:
        field.run_validation(value)
    assert [e.code for e in caught.value.detail] == [code]
    assert not TreatmentCycle.objects.exists()


def test_a_nan_literal_in_the_body_is_a_400(api_for, clinician, patient):
    response = api_for(clinician).generic(
        "POST", "/api/v1/cycles/", f'{{"patient": {patient.pk}, "start_date": "2025-03-17", "weight_kg": NaN}}',
        content_type="application/json")
    assert response.status_code == 400
    assert not TreatmentCycle.objects.exists()
