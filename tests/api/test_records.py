"""Writes through the API: the forms' rules, record_save's history, versions,
reasons, voids, locks; no DELETE."""

from datetime import date
from decimal import Decimal

import pytest
from django.utils import timezone

from core.services import record_save
from patients.forms import DiagnosisForm, PatientForm
from patients.models import Diagnosis, MalignancyHistory, Patient
from safety.models import AdverseEvent
from tests.api.conftest import codes_of, errors_of
from tests.patients.factories import DiagnosisFactory, MalignancyFactory, PatientFactory
from tests.visits.factories import CycleFactory, full_cycle
from visits.forms import CycleForm, EndOfTreatmentForm
from visits.models import Assessment, Infusion, ProtocolDeviation, TreatmentCycle

pytestmark = pytest.mark.django_db


def patient_json(site, **overrides):
    data = {
        "subject_id": "01-101", "site": site.pk, "sex": "F", "birth_year": 1968, "race": "WHITE",
        "consent_date": "2025-03-01", "enrolment_date": "2025-03-10", "symptom_onset_date": "2024-12-01",
        "active_myopathy": True, "ctd_associated": False, "suspected_cause": "none", "status": "on_study",
    }
    data.update(overrides)
    return data


def infusion_json(day, dose, on):
    return {"day": day, "infusion_date": on, "lot": "LOT-7", "concentration_pct": "10",
            "volume_ml": str(dose * 10), "dose_g": str(dose), "max_rate_ml_per_h": "150"}


def form_errors(form):
    """A form's errors as ``{field: [(message, code)]}`` (the API's shape)."""
    assert not form.is_valid()
    return {("non_field_errors" if f == "__all__" else f): [(e.message % e.params if e.params else e.message, e.code)
                                                              for e in errors]
            for f, errors in form.errors.as_data().items()}


# --- Create and read back derived values ------------------------------------------

def test_create_patient_and_read_derived_age(api_for, clinician, site_a):
    response = api_for(clinician).post("/api/v1/patients/", patient_json(site_a), format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["age_at_enrolment"] == 56  # born mid-1968, enrolled 2025-03-10
    assert body["version"] == 1 and body["site_code"] == "01"
    assert response["ETag"] == '"1"'
    patient = Patient.objects.get(subject_id="01-101")
    row = patient.history.get()
    assert (row.history_type, row.history_user) == ("+", clinician)


def test_record_a_cycle_with_its_assessment_and_two_infusions(api_for, clinician, patient):
    """An under-dose of 60 g on 70 kg shows as an open under-dose deviation."""
    response = api_for(clinician).post("/api/v1/cycles/", {
        "patient": patient.pk, "start_date": "2025-03-17", "weight_kg": "70.0", "dosing_basis": "actual",
        "assessment": {"assessment_date": "2025-03-17", "mmt_scale": "kendall", "mmt_neck_flexors": 7,
                       "mmt_deltoid": 7, "mmt_biceps": 7, "mmt_wrist_extensors": 7, "mmt_gluteus_maximus": 7,
                       "mmt_gluteus_medius": 7, "mmt_quadriceps": 7, "mmt_ankle_dorsiflexors": 7,
                       "ck_u_per_l": "2400", "ck_uln_u_per_l": "200"},
        "infusions": [infusion_json(1, 70, "2025-03-17"), infusion_json(2, 60, "2025-03-18")],
    }, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["number"] == 1
    assert body["dosing_weight_kg"] == "70.0"
    assert body["prescribed_daily_dose_g"] == "70.0"
    assert body["assessment"]["mmt_total"] == 56
    assert [(i["day"], i["prescribed_dose_g"], i["dose_g"]) for i in body["infusions"]] == [
        (1, "70.0", "70.0"), (2, "70.0", "60.0")]
    assert [(d["kind"], d["day"]) for d in body["open_deviations"]] == [("underdose", 2)]

    cycle = TreatmentCycle.objects.get()
    assert Infusion.objects.filter(cycle=cycle).count() == 2
    deviation = ProtocolDeviation.objects.get()
    assert (deviation.kind, deviation.day, deviation.is_open) == ("underdose", 2, True)
    assert deviation.history.get().history_user == clinician
    assert {i.history.get().history_user for i in cycle.infusions.all()} == {clinician}
    listed = api_for(clinician).get("/api/v1/deviations/", {"patient": patient.pk, "open": "true"}).json()
    assert [d["kind"] for d in listed["results"]] == ["underdose"]
    infusion = api_for(clinician).get(f"/api/v1/infusions/{cycle.infusions.get(day=2).pk}/").json()
    assert infusion["prescribed_dose_g"] == "70.0"


@pytest.mark.req("URS-PRO-007")
def test_nested_cycle_errors_are_dotted_and_nothing_is_saved(api_for, clinician, patient):
    response = api_for(clinician).post("/api/v1/cycles/", {
        "patient": patient.pk, "start_date": "2025-03-17", "weight_kg": "70.0",
        "assessment": {"assessment_date": "2025-03-17", "ck_u_per_l": "-5", "ck_uln_u_per_l": "200"},
        "infusions": [infusion_json(1, 70, "2025-03-17"), infusion_json(1, 70, "2025-03-17")],
    }, format="json")
    assert response.status_code == 400
    assert codes_of(response) == {"assessment.ck_u_per_l": ["negative"], "infusions.1.day": ["duplicate_day"]}
    assert not TreatmentCycle.objects.exists() and not Assessment.objects.exists()


def test_every_parts_errors_at_once_like_the_form(api_for, clinician, patient):
    """The API and the record-cycle page share one builder (``visits.services.cycle_parts_build``):
    a bad weight no longer hides the errors of the assessment and the infusions."""
    response = api_for(clinician).post("/api/v1/cycles/", {
        "patient": patient.pk, "start_date": "2025-03-17", "weight_kg": "0",
        "assessment": {"assessment_date": "2025-03-17", "ck_u_per_l": "-5", "ck_uln_u_per_l": "200"},
        "infusions": [infusion_json(2, 70, "2025-03-17"), infusion_json(1, 70, "2025-03-20")],
    }, format="json")
    assert response.status_code == 400
    assert codes_of(response) == {"weight_kg": ["implausible_weight"], "assessment.ck_u_per_l": ["negative"],
                                  "infusions.0.infusion_date": ["day2_not_after_day1"],
                                  "infusions.1.infusion_date": ["day1_not_cycle_start"]}
    assert not TreatmentCycle.objects.exists()


def test_a_cycle_update_rechecks_its_stored_infusions_like_the_form(api_for, clinician, patient):
    cycle = full_cycle(patient)
    response = api_for(clinician).patch(f"/api/v1/cycles/{cycle.pk}/", {
        "start_date": "2025-03-20", "version": cycle.version, "change_reason": "Date re-read"}, format="json")
    assert response.status_code == 400
    assert codes_of(response) == {"infusions.0.infusion_date": ["day1_not_cycle_start"],
                                  "infusions.1.infusion_date": ["day2_not_after_day1"]}
    cycle.refresh_from_db()
    assert (cycle.start_date, cycle.version) == (date(2025, 3, 17), 1)


def test_separate_infusion_endpoint_keeps_the_deviation_log_current(api_for, clinician, patient):
    client = api_for(clinician)
    cycle = client.post("/api/v1/cycles/", {"patient": patient.pk, "start_date": "2025-03-17",
                                            "weight_kg": "70.0"}, format="json").json()
    assert cycle["open_deviations"] == []
    response = client.post("/api/v1/infusions/", {"cycle": cycle["id"], **infusion_json(1, 70, "2025-03-17")},
                           format="json")
    assert response.status_code == 201, response.json()
    assert list(ProtocolDeviation.objects.open().values_list("kind", "day")) == [("missing_day", 2)]
    response = client.post("/api/v1/infusions/", {"cycle": cycle["id"], **infusion_json(2, 60, "2025-03-18")},
                           format="json")
    assert response.status_code == 201, response.json()
    day2 = response.json()
    assert day2["prescribed_dose_g"] == "70.0" and day2["patient"] == patient.pk
    kinds = set(ProtocolDeviation.objects.open().values_list("kind", flat=True))
    assert kinds == {"underdose"}  # the missing day was resolved, kept in the log
    assert ProtocolDeviation.objects.current().get(kind="missing_day").resolved_at is not None

    response = client.patch(f"/api/v1/infusions/{day2['id']}/", {
        "dose_g": "70", "volume_ml": "700", "version": day2["version"],
        "change_reason": "Dose misread from the pump log"}, format="json")
    assert response.status_code == 200, response.json()
    assert not ProtocolDeviation.objects.open().exists()
    resolved = ProtocolDeviation.objects.current().get(kind="underdose")
    assert resolved.resolution == "Dose misread from the pump log"
    assert resolved.history.latest().history_user == clinician


def test_infusion_times_are_local_wall_clock_times(api_for, clinician, patient):
    """Found by schemathesis: "13:05:12-06:33" was stored as 13:05:12, the zone dropped, and
    the answer then broke the schema's ``format: time`` (RFC 3339 needs an offset)."""
    client = api_for(clinician)
    infusion = client.get(f"/api/v1/infusions/{full_cycle(patient).infusions.get(day=1).pk}/").json()
    url = f"/api/v1/infusions/{infusion['id']}/"
    for bad in ("13:05:12-06:33", "13:05Z", "25:00", "1:05", "13h05", 1305):
        response = client.patch(url, {"end_time": bad, "version": infusion["version"],
                                      "change_reason": "pump log"}, format="json")
        assert response.status_code == 400, bad
        assert codes_of(response) == {"end_time": ["invalid"]}, bad
    assert Infusion.objects.get(pk=infusion["id"]).version == infusion["version"]
    response = client.patch(url, {"end_time": "13:05", "version": infusion["version"],
                                  "change_reason": "pump log"}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["end_time"] == "13:05:00"
    schema = client.get("/api/v1/schema/?format=json").json()
    end_time = schema["components"]["schemas"]["Infusion"]["properties"]["end_time"]
    assert "format" not in str(end_time) and "pattern" in str(end_time)


# --- The forms' rules, messages and codes -------------------------------------------

@pytest.mark.req("URS-DAT-005")
def test_negative_ck_is_refused_like_the_form(api_for, clinician, patient):
    response = api_for(clinician).post("/api/v1/assessments/", {
        "patient": patient.pk, "assessment_date": "2025-07-01", "ck_u_per_l": "-5", "ck_uln_u_per_l": "200"},
        format="json")
    assert response.status_code == 400
    assert errors_of(response) == {"ck_u_per_l": [("CK cannot be negative.", "negative")]}
    form = EndOfTreatmentForm({"assessment_date": "2025-07-01", "mmt_scale": "kendall", "ck_u_per_l": "-5",
                               "ck_uln_u_per_l": "200"}, patient=patient)
    assert form_errors(form) == errors_of(response)
    assert not Assessment.objects.exists()


@pytest.mark.req("URS-DAT-005")
def test_dm_without_rash_is_refused_like_the_form(api_for, clinician, patient):
    data = {"kind": "DM", "diagnosis_date": "2025-02-01", "bp_weakness": True, "bp_enzymes": True,
            "bp_emg": True}
    response = api_for(clinician).post("/api/v1/diagnoses/", {"patient": patient.pk, **data}, format="json")
    assert response.status_code == 400
    assert codes_of(response) == {"kind": ["dm_requires_rash"]}
    form = DiagnosisForm({k: ("on" if v is True else v) for k, v in data.items()}, patient=patient)
    assert form_errors(form) == errors_of(response)
    assert not Diagnosis.objects.exists()


@pytest.mark.req("URS-CHK-003")
def test_consent_after_enrolment_is_refused_like_the_form(api_for, clinician, site_a):
    data = patient_json(site_a, consent_date="2025-03-11")
    response = api_for(clinician).post("/api/v1/patients/", data, format="json")
    assert response.status_code == 400
    assert codes_of(response) == {"consent_date": ["consent_after_enrolment"]}
    form = PatientForm({k: ("on" if v is True else v) for k, v in data.items() if v is not False}, user=clinician)
    assert form_errors(form) == errors_of(response)
    assert not Patient.objects.exists()


@pytest.mark.req("URS-CHK-002")
def test_weight_zero_is_refused_like_the_form(api_for, clinician, patient):
    response = api_for(clinician).post("/api/v1/cycles/", {
        "patient": patient.pk, "start_date": "2025-03-17", "weight_kg": "0"}, format="json")
    assert response.status_code == 400
    assert errors_of(response) == {"weight_kg": [("Weight must be above 0 and at most 350 kg.",
                                                  "implausible_weight")]}
    form = CycleForm({"start_date": "2025-03-17", "weight_kg": "0", "dosing_basis": "actual"},
                     instance=TreatmentCycle(patient=patient, number=1))
    assert form_errors(form) == errors_of(response)
    assert not TreatmentCycle.objects.exists()


@pytest.mark.parametrize("value, code", [("NaN", "invalid"), ("Infinity", "invalid"), ("1e400", "max_digits"),
                                         ("12.34", "max_decimal_places"), ("abc", "invalid")])
def test_malformed_numbers_are_400(api_for, clinician, patient, value, code):
    response = api_for(clinician).post("/api/v1/cycles/", {
        "patient": patient.pk, "start_date": "2025-03-17", "weight_kg": value}, format="json")
    assert response.status_code == 400
    assert codes_of(response) == {"weight_kg": [code]}


@pytest.mark.parametrize("field, value, code", [
    ("weight_kg", True, "invalid"),  # decimals are JSON strings or numbers, never booleans
    ("number", "1", "invalid"),
    ("patient", "1", "incorrect_type"),
    ("dosing_basis", 1, "invalid_choice"),
    ("change_reason", 0, "invalid"),
])
def test_json_types_are_strict(api_for, clinician, patient, field, value, code):
    data = {"patient": patient.pk, "start_date": "2025-03-17", "weight_kg": "70.0", field: value}
    response = api_for(clinician).post("/api/v1/cycles/", data, format="json")
    assert response.status_code == 400
    assert codes_of(response) == {field: [code]}
    day = api_for(clinician).post("/api/v1/infusions/", {"cycle": 1, "day": "1"}, format="json")
    assert codes_of(day)["day"] == ["invalid_choice"]


def test_malformed_dates_and_json_are_400(api_for, clinician, site_a):
    client = api_for(clinician)
    response = client.post("/api/v1/patients/", patient_json(site_a, enrolment_date="2025-02-30"), format="json")
    assert codes_of(response) == {"enrolment_date": ["invalid"]}
    response = client.post("/api/v1/patients/", b"{not json", content_type="application/json")
    assert response.status_code == 400 and response.json()["code"] == "parse_error"
    response = client.post("/api/v1/patients/", [1, 2], format="json")
    assert response.status_code == 400 and codes_of(response) == {"non_field_errors": ["invalid"]}


def test_duplicate_subject_id_has_the_model_message(api_for, clinician, site_a):
    PatientFactory(site=site_a, subject_id="01-101")
    response = api_for(clinician).post("/api/v1/patients/", patient_json(site_a), format="json")
    assert errors_of(response) == {"subject_id": [("Patient with this Subject id already exists.", "unique")]}


def test_status_withdrawn_goes_through_the_withdraw_action(api_for, clinician, patient):
    client = api_for(clinician)
    response = client.patch(f"/api/v1/patients/{patient.pk}/", {
        "status": "withdrawn", "version": 1, "change_reason": "Consent withdrawn"}, format="json")
    assert codes_of(response) == {"status": ["use_withdraw"]}
    response = client.post(f"/api/v1/patients/{patient.pk}/withdraw/", {
        "withdrawal_date": "2025-04-01", "withdrawal_reason": "Consent withdrawn", "version": 1}, format="json")
    assert response.status_code == 200, response.json()
    patient.refresh_from_db()
    assert (patient.status, patient.version) == ("withdrawn", 2)
    row = patient.history.latest()
    assert (row.history_user, row.history_change_reason) == (clinician, "Withdrawn: Consent withdrawn")
    response = client.post(f"/api/v1/patients/{patient.pk}/withdraw/", {
        "withdrawal_date": "2025-04-01", "withdrawal_reason": "again", "version": 2}, format="json")
    assert codes_of(response) == {"non_field_errors": ["transition_not_allowed"]}


# --- Updates: reason, version, history ----------------------------------------------------

def test_update_needs_a_reason(api_for, clinician, patient):
    response = api_for(clinician).patch(f"/api/v1/patients/{patient.pk}/", {"sex": "M", "version": 1},
                                        format="json")
    assert response.status_code == 400
    assert errors_of(response) == {"change_reason": [("Give a reason for changing a saved record.",
                                                      "reason_required")]}
    patient.refresh_from_db()
    assert (patient.sex, patient.version) == ("F", 1)


@pytest.mark.req("URS-AUD-001")
def test_update_with_version_and_reason_writes_history_with_the_api_user(api_for, clinician, patient):
    response = api_for(clinician).patch(f"/api/v1/patients/{patient.pk}/", {
        "sex": "M", "version": 1, "change_reason": "Sex mistyped on the CRF"}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["version"] == 2 and response["ETag"] == '"2"'
    patient.refresh_from_db()
    assert (patient.sex, patient.version) == ("M", 2)
    row = patient.history.latest()
    assert (row.history_type, row.history_user, row.history_change_reason) == (
        "~", clinician, "Sex mistyped on the CRF")


def test_put_with_if_match_and_reason_header(api_for, clinician, patient):
    client = api_for(clinician)
    current = client.get(f"/api/v1/patients/{patient.pk}/")
    assert current["ETag"] == '"1"'
    body = current.json()
    body.update(sex="M")
    del body["version"]
    response = client.put(f"/api/v1/patients/{patient.pk}/", body, format="json",
                          HTTP_IF_MATCH=current["ETag"],
                          HTTP_X_CHANGE_REASON="Corrigé d'après le dossier".encode().decode("latin-1"))
    assert response.status_code == 200, response.json()
    assert patient.history.latest().history_change_reason == "Corrigé d'après le dossier"


@pytest.mark.req("URS-PRO-006")
def test_stale_version_in_the_body_is_409_and_changes_nothing(api_for, clinician, patient):
    record_save(instance=Patient.objects.get(pk=patient.pk), reason="Someone else's fix")  # now version 2
    response = api_for(clinician).patch(f"/api/v1/patients/{patient.pk}/", {
        "sex": "M", "version": 1, "change_reason": "Mine"}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "stale"
    patient.refresh_from_db()
    assert (patient.sex, patient.version, patient.history.count()) == ("F", 2, 2)


def test_stale_if_match_is_412_and_changes_nothing(api_for, clinician, patient):
    record_save(instance=Patient.objects.get(pk=patient.pk), reason="Someone else's fix")
    client = api_for(clinician)
    for etag in ('"1"', 'W/"1"', "garbage"):
        response = client.patch(f"/api/v1/patients/{patient.pk}/", {"sex": "M", "change_reason": "Mine"},
                                format="json", HTTP_IF_MATCH=etag)
        assert response.status_code == 412, etag
    patient.refresh_from_db()
    assert (patient.sex, patient.version) == ("F", 2)


@pytest.mark.req("URS-PRO-006")
def test_update_without_version_is_428(api_for, clinician, patient):
    client = api_for(clinician)
    response = client.patch(f"/api/v1/patients/{patient.pk}/", {"sex": "M", "change_reason": "x"}, format="json")
    assert response.status_code == 428
    assert response.json()["code"] == "version_required"
    response = client.patch(f"/api/v1/patients/{patient.pk}/", {"sex": "M", "change_reason": "x"}, format="json",
                            HTTP_IF_MATCH="*")
    assert response.status_code == 428
    patient.refresh_from_db()
    assert patient.sex == "F"


def test_body_and_header_versions_must_agree(api_for, clinician, patient):
    response = api_for(clinician).patch(f"/api/v1/patients/{patient.pk}/", {
        "sex": "M", "version": 2, "change_reason": "x"}, format="json", HTTP_IF_MATCH='"1"')
    assert codes_of(response) == {"version": ["version_mismatch"]}


def test_an_update_that_changes_nothing_writes_nothing(api_for, clinician, patient):
    response = api_for(clinician).patch(f"/api/v1/patients/{patient.pk}/", {"sex": "F", "version": 1},
                                        format="json")
    assert response.status_code == 200
    patient.refresh_from_db()
    assert (patient.version, patient.history.count()) == (1, 1)


def test_the_patient_of_a_record_cannot_be_moved(api_for, clinician, patient, site_a):
    other = PatientFactory(site=site_a, subject_id="01-002")
    malignancy = MalignancyFactory(patient=patient)
    response = api_for(clinician).patch(f"/api/v1/malignancies/{malignancy.pk}/", {
        "patient": other.pk, "version": 1, "change_reason": "x"}, format="json")
    assert codes_of(response) == {"patient": ["immutable"]}


def test_a_cycle_update_recomputes_deviations(api_for, clinician, patient):
    cycle = full_cycle(patient)
    client = api_for(clinician)
    response = client.patch(f"/api/v1/cycles/{cycle.pk}/", {
        "weight_kg": "80", "version": cycle.version, "change_reason": "Weighed again"}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["prescribed_daily_dose_g"] == "80.0"
    assert sorted((d["kind"], d["day"]) for d in response.json()["open_deviations"]) == [
        ("underdose", 1), ("underdose", 2)]
    response = client.patch(f"/api/v1/cycles/{cycle.pk}/", {
        "infusions": [], "version": 2, "change_reason": "x"}, format="json")
    assert codes_of(response) == {"infusions": ["read_only_on_update"]}


# --- No DELETE; void ----------------------------------------------------------------------

@pytest.mark.parametrize("collection", ["patients", "diagnoses", "malignancies", "cycles", "assessments",
                                        "infusions", "adverse-events", "deviations", "data-queries"])
@pytest.mark.req("URS-PRO-001")
def test_there_is_no_delete(api_for, admin_user, patient, collection):
    DiagnosisFactory(patient=patient)
    MalignancyFactory(patient=patient)
    cycle = full_cycle(patient, day2_dose=60)
    from visits.services import deviations_refresh
    deviations_refresh(cycle=cycle, reason="entry")
    AdverseEvent.objects.create(patient=patient, term="Headache", onset_date=date(2025, 3, 18), grade=1,
                                relatedness="possible", outcome="recovered")
    from review.services import query_raise
    query_raise(record=patient, field_name="", field_label="", record_label="Patient 01-001",
                question="Check", user=admin_user)
    client = api_for(admin_user)
    first = client.get(f"/api/v1/{collection}/").json()["results"][0]["id"]
    response = client.delete(f"/api/v1/{collection}/{first}/")
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"
    assert client.delete(f"/api/v1/{collection}/").status_code == 405


@pytest.mark.req("URS-PRO-001")
def test_void_a_malignancy(api_for, clinician, patient):
    malignancy = MalignancyFactory(patient=patient)
    client = api_for(clinician)
    url = f"/api/v1/malignancies/{malignancy.pk}/void/"
    response = client.post(url, {"version": 1}, format="json")
    assert errors_of(response) == {"void_reason": [("Give the reason for voiding.", "required")]}
    response = client.post(url, {"void_reason": "Entered on the wrong patient", "version": 1}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["voided_at"] and response.json()["void_reason"] == "Entered on the wrong patient"
    malignancy.refresh_from_db()
    assert malignancy.is_voided
    row = malignancy.history.latest()
    assert (row.history_user, row.history_change_reason) == (clinician, "Voided: Entered on the wrong patient")
    assert MalignancyHistory.objects.count() == 1  # kept
    response = client.post(url, {"void_reason": "again", "version": 2}, format="json")
    assert codes_of(response) == {"non_field_errors": ["already_voided"]}
    response = client.patch(f"/api/v1/malignancies/{malignancy.pk}/", {
        "notes": "x", "version": 2, "change_reason": "x"}, format="json")
    assert errors_of(response) == {"non_field_errors": [("A voided entry cannot be edited.", "voided")]}
    listed = client.get("/api/v1/malignancies/", {"voided": "false"}).json()
    assert listed["count"] == 0


def test_void_an_adverse_event_and_an_assessment(api_for, clinician, patient):
    event = AdverseEvent.objects.create(patient=patient, term="Headache", onset_date=date(2025, 3, 18), grade=1,
                                        relatedness="possible", outcome="recovered")
    assessment = full_cycle(patient).assessment
    client = api_for(clinician)
    for url in (f"/api/v1/adverse-events/{event.pk}/void/", f"/api/v1/assessments/{assessment.pk}/void/"):
        response = client.post(url, {"void_reason": "Duplicate entry"}, format="json", HTTP_IF_MATCH='"1"')
        assert response.status_code == 200, response.json()
        assert response["ETag"] == '"2"'
    event.refresh_from_db()
    assessment.refresh_from_db()
    assert event.voided_at and assessment.voided_at


def test_void_with_a_stale_version_changes_nothing(api_for, clinician, patient):
    malignancy = MalignancyFactory(patient=patient)
    response = api_for(clinician).post(f"/api/v1/malignancies/{malignancy.pk}/void/",
                                       {"void_reason": "x", "version": 5}, format="json")
    assert response.status_code == 409
    malignancy.refresh_from_db()
    assert not malignancy.is_voided


# --- Locks ---------------------------------------------------------------------------------

def test_a_locked_casebook_refuses_writes_with_the_lock_message(api_for, clinician, admin_user, patient):
    from oversight.services import record_lock

    cycle = CycleFactory(patient=patient)
    record_lock(record=patient, user=admin_user, reason="Database lock")
    client = api_for(clinician)
    response = client.patch(f"/api/v1/patients/{patient.pk}/", {
        "sex": "M", "version": 2, "change_reason": "x"}, format="json")
    assert response.status_code == 400
    [(message, code)] = errors_of(response)["non_field_errors"]
    assert code == "locked" and "casebook of this patient is locked" in message
    response = client.post("/api/v1/malignancies/", {
        "patient": patient.pk, "malignancy_type": "Breast carcinoma", "diagnosis_date": "2019-01-01",
        "status": "remission"}, format="json")
    assert codes_of(response) == {"non_field_errors": ["locked"]}
    response = client.post("/api/v1/infusions/", {"cycle": cycle.pk, **infusion_json(1, 70, "2025-03-17")},
                           format="json")
    assert codes_of(response) == {"non_field_errors": ["locked"]}
    assert not Infusion.objects.exists() and not MalignancyHistory.objects.exists()


# --- Adverse events, assessments ------------------------------------------------------------

def test_report_an_adverse_event_linked_to_an_infusion(api_for, clinician, patient):
    cycle = full_cycle(patient)
    infusion = cycle.infusions.get(day=1)
    response = api_for(clinician).post("/api/v1/adverse-events/", {
        "patient": patient.pk, "infusion": infusion.pk, "term": "Infusion-related reaction",
        "onset_date": "2025-03-17", "grade": 3, "serious": True, "serious_hospitalisation": True,
        "relatedness": "probable", "outcome": "recovering"}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["review_due_at"] is not None
    response = api_for(clinician).post("/api/v1/adverse-events/", {
        "patient": patient.pk, "term": "Headache", "onset_date": "2025-03-17", "grade": 2, "serious": True,
        "relatedness": "possible", "outcome": "recovered"}, format="json")
    assert codes_of(response) == {"serious": ["criterion_required"]}


def test_end_of_treatment_assessment_and_timepoint(api_for, clinician, patient):
    full_cycle(patient)
    body = {"patient": patient.pk, "assessment_date": "2025-05-01", "ck_u_per_l": "150", "ck_uln_u_per_l": "200"}
    response = api_for(clinician).post("/api/v1/assessments/", {**body, "timepoint": "pre_cycle"}, format="json")
    assert response.status_code == 400 and codes_of(response) == {"timepoint": ["read_only"]}  # not ignored
    assert not Assessment.objects.filter(timepoint="end").exists()
    response = api_for(clinician).post("/api/v1/assessments/", body, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["timepoint"] == "end"  # derived: no cycle


def test_a_clinician_cannot_attach_records_to_another_sites_patient(api_for, clinician, site_b):
    other = PatientFactory(site=site_b, subject_id="02-001")
    response = api_for(clinician).post("/api/v1/malignancies/", {
        "patient": other.pk, "malignancy_type": "x", "diagnosis_date": "2019-01-01", "status": "remission"},
        format="json")
    assert codes_of(response) == {"patient": ["does_not_exist"]}
    response = api_for(clinician).post("/api/v1/patients/", patient_json(site_b, subject_id="02-101"),
                                       format="json")
    assert codes_of(response) == {"site": ["does_not_exist"]}


def test_diagnosis_derived_values(api_for, clinician, patient):
    response = api_for(clinician).post("/api/v1/diagnoses/", {
        "patient": patient.pk, "kind": "DM", "diagnosis_date": "2025-02-01", "bp_weakness": True,
        "bp_enzymes": True, "bp_emg": True, "heliotrope_rash": True, "upper_limb_weakness": True},
        format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["rash"], body["certainty"]) == (True, "definite")
    assert body["eular_acr_score"] == str(Diagnosis.objects.get().eular_acr_score)
    assert body["eular_acr_class"] == Diagnosis.objects.get().eular_acr_class


def test_malignancy_timing_is_derived_from_the_treatment_dates(api_for, clinician, patient):
    full_cycle(patient)  # infusions 2025-03-17 and 18; no end-of-treatment visit: the last one ends it
    before = MalignancyFactory(patient=patient, diagnosis_date=date(2018, 5, 1))
    during = MalignancyFactory(patient=patient, diagnosis_date=date(2025, 3, 18))
    client = api_for(clinician)
    listed = {m["id"]: m["timing"] for m in client.get("/api/v1/malignancies/").json()["results"]}
    assert listed == {before.pk: "before", during.pk: "during"}
    assert client.get(f"/api/v1/malignancies/{during.pk}/").json()["timing"] == "during"


# --- Data queries ----------------------------------------------------------------------------

def test_data_query_thread(api_for, monitor, clinician, patient):
    cycle = full_cycle(patient)
    monitor_api, site_api = api_for(monitor), api_for(clinician)
    response = monitor_api.post("/api/v1/data-queries/", {
        "patient": patient.pk, "target": f"assessment:{cycle.assessment.pk}:ck_u_per_l",
        "question": "CK of 2400: please confirm against the lab report."}, format="json")
    assert response.status_code == 201, response.json()
    query = response.json()
    assert (query["status"], query["record_type"], query["field_name"], query["cycle_number"]) == (
        "open", "assessment", "ck_u_per_l", 1)
    assert site_api.post("/api/v1/data-queries/", {"patient": patient.pk, "target": "patient:1:",
                                                   "question": "x"}, format="json").status_code == 403
    response = monitor_api.post("/api/v1/data-queries/", {"patient": patient.pk, "target": "patient:999:",
                                                          "question": "x"}, format="json")
    assert codes_of(response) == {"target": ["invalid_target"]}

    assert monitor_api.post(f"/api/v1/data-queries/{query['id']}/answer/", {"text": "x"},
                            format="json").status_code == 403
    response = site_api.post(f"/api/v1/data-queries/{query['id']}/answer/", {"text": "Confirmed."}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "answered"
    response = site_api.post(f"/api/v1/data-queries/{query['id']}/answer/", {"text": "Again."}, format="json")
    assert codes_of(response) == {"non_field_errors": ["not_open"]}
    response = monitor_api.post(f"/api/v1/data-queries/{query['id']}/close/", {}, format="json")
    assert response.json()["status"] == "closed"
    assert [m["kind"] for m in response.json()["messages"]] == ["question", "answer", "close"]
    assert monitor_api.put(f"/api/v1/data-queries/{query['id']}/", {}, format="json").status_code == 405


def test_created_at_and_updated_at_are_read_only(api_for, clinician, site_a):
    response = api_for(clinician).post("/api/v1/patients/", patient_json(
        site_a, created_at="2000-01-01T00:00:00Z", version=7, id=999, locked_at=timezone.now().isoformat()),
        format="json")
    # Refused, not silently ignored (issue 17); the version is ignored on create (documented).
    assert response.status_code == 400
    assert codes_of(response) == {"created_at": ["read_only"], "id": ["read_only"], "locked_at": ["read_only"]}
    assert not Patient.objects.exists()
    response = api_for(clinician).post("/api/v1/patients/", patient_json(site_a, version=7), format="json")
    assert response.status_code == 201
    patient = Patient.objects.get()
    assert patient.version == 1 and patient.locked_at is None
    assert patient.created_at.year == timezone.now().year


def test_decimal_output_is_a_string(api_for, clinician, patient):
    cycle = CycleFactory(patient=patient, weight_kg=Decimal("71.5"))
    body = api_for(clinician).get(f"/api/v1/cycles/{cycle.pk}/").json()
    assert body["weight_kg"] == "71.5" and body["prescribed_cycle_dose_g"] == "143.0"
