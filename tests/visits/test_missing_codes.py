"""Missing-data codes (core.missing) through every channel (the record-cycle page, the
end-of-treatment and diagnosis forms, the API; the admin is read-only), and in the exports."""

import csv
import io
import json
from pathlib import Path

import pyreadstat
import pytest
from django.urls import reverse
from lxml import etree

from exchange import datasets
from exchange.exports import odm, sdtm
from exchange.exports.fhir import fhir_bundle
from patients.models import Diagnosis, Patient
from tests.api.conftest import api_for  # noqa: F401 (fixture)
from tests.patients.factories import PatientFactory
from tests.visits.test_views import cycle_post
from visits.models import Assessment, Infusion, ProtocolDeviation, TreatmentCycle

pytestmark = pytest.mark.django_db


@pytest.fixture
def patient(site_a):
    return PatientFactory(site=site_a, subject_id="01-001")


def post_cycle(client, patient, **overrides):
    return client.post(reverse("visits:cycle_create", args=[patient.pk]), cycle_post(**overrides))


def entry_errors(response):
    return {part: dict(form.errors) for part, form in response.context["entry"].forms.items() if form.errors}


def test_cycle_page_records_codes_and_a_rate_not_done(client_for, clinician, patient):
    client = client_for(clinician)
    page = client.get(reverse("visits:cycle_create", args=[patient.pk])).content.decode()
    assert 'name="assessment-aldolase_u_per_l_missing"' in page
    assert 'name="day1-max_rate_ml_per_h_missing"' in page
    response = post_cycle(client, patient, **{
        "assessment-aldolase_u_per_l_missing": "ND", "assessment-haq_missing": "ASKU",
        "day1-max_rate_ml_per_h": "", "day1-max_rate_ml_per_h_missing": "ND",
        "day2-volume_ml": "", "day2-volume_ml_missing": "UNK"})
    assert response.status_code == 302, entry_errors(response)
    assessment = Assessment.objects.get()
    assert assessment.missing_codes == {"aldolase_u_per_l": "ND", "haq": "ASKU"}
    assert assessment.history.get().missing_codes == {"aldolase_u_per_l": "ND", "haq": "ASKU"}
    day1 = Infusion.objects.get(day=1)
    assert day1.max_rate_ml_per_h is None and day1.missing_codes == {"max_rate_ml_per_h": "ND"}
    assert day1.rate_ml_per_kg_min is None and day1.rate_within_limit is None
    assert Infusion.objects.get(day=2).volume_ml is None
    assert not ProtocolDeviation.objects.open().exists()  # no rate deviation without a rate


def test_cycle_page_refuses_a_value_with_a_code_and_an_empty_rate_without_one(client_for, clinician, patient):
    response = post_cycle(client_for(clinician), patient, **{
        "assessment-ck_u_per_l_missing": "ND", "day1-max_rate_ml_per_h": ""})
    assert response.status_code == 200
    errors = entry_errors(response)
    assert "clear the value or the code" in errors["assessment"]["ck_u_per_l"][0]
    assert "required unless recorded as not done" in errors["day1"]["max_rate_ml_per_h"][0]
    assert not TreatmentCycle.objects.exists()


def test_diagnosis_form_records_a_criterion_not_assessed(client_for, clinician, patient):
    client = client_for(clinician)
    url = reverse("patients:diagnosis_edit", args=[patient.pk])
    assert 'name="bp_biopsy_missing"' in client.get(url).content.decode()
    data = {"kind": "DM", "diagnosis_date": "2025-02-01", "bp_weakness": "on", "bp_enzymes": "on",
            "bp_emg": "on", "heliotrope_rash": "on", "bp_biopsy_missing": "NA"}
    assert client.post(url, data).status_code == 302
    diagnosis = Diagnosis.objects.get()
    assert diagnosis.bp_biopsy is False and diagnosis.missing_codes == {"bp_biopsy": "NA"}
    response = client.post(url, {**data, "bp_emg_missing": "UNK", "change_reason": "EMG report lost",
                                 "expected_version": diagnosis.version})
    assert "clear the value or the code" in response.context["form"].errors["bp_emg"][0]


def test_end_of_treatment_form_has_the_selects(client_for, clinician, patient):
    from tests.visits.factories import full_cycle

    full_cycle(patient)
    page = client_for(clinician).get(reverse("visits:end_of_treatment", args=[patient.pk])).content.decode()
    assert 'name="ck_uln_u_per_l_missing"' in page


def api_cycle(patient, **assessment):
    return {"patient": patient.pk, "start_date": "2025-03-17", "weight_kg": "70.0",
            "assessment": {"assessment_date": "2025-03-16", "mmt_scale": "kendall", "ck_u_per_l": "2400",
                           "ck_uln_u_per_l": "200", **assessment},
            "infusions": [{"day": 1, "infusion_date": "2025-03-17", "lot": "L1", "concentration_pct": "10",
                           "volume_ml": "700", "dose_g": "70", "max_rate_ml_per_h": None,
                           "missing_codes": {"max_rate_ml_per_h": "ND"}}]}


def test_api_takes_and_shows_codes_and_names_the_field_of_a_bad_one(api_for, clinician, patient):
    client = api_for(clinician)
    response = client.post("/api/v1/cycles/", api_cycle(patient, missing_codes={"ldh_u_per_l": "UNK"}),
                           format="json")
    assert response.status_code == 201, response.json()
    assessment = Assessment.objects.get()
    assert assessment.missing_codes == {"ldh_u_per_l": "UNK"}
    body = client.get(f"/api/v1/assessments/{assessment.pk}/").json()
    assert body["missing_codes"] == {"ldh_u_per_l": "UNK"}
    infusion = client.get(f"/api/v1/infusions/{Infusion.objects.get().pk}/").json()
    assert infusion["missing_codes"] == {"max_rate_ml_per_h": "ND"} and infusion["max_rate_ml_per_h"] is None

    response = client.patch(f"/api/v1/assessments/{assessment.pk}/", {
        "missing_codes": {"ck_u_per_l": "ND", "ldh_u_per_l": "MAYBE"}, "version": body["version"],
        "change_reason": "lab"}, format="json")
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert "ck_u_per_l" in errors and "missing_codes" in errors, errors
    assert Assessment.objects.get().missing_codes == {"ldh_u_per_l": "UNK"}


def test_admin_is_read_only_for_coded_records(client_for, admin_user, patient, clinician):
    post_cycle(client_for(clinician), patient, **{"assessment-aldolase_u_per_l_missing": "ND"})
    assessment = Assessment.objects.get()
    client = client_for(admin_user)
    url = reverse("admin:visits_assessment_change", args=[assessment.pk])
    assert client.get(url).status_code == 200
    client.post(url, {"missing_codes": "{}"})
    assert Assessment.objects.get().missing_codes == {"aldolase_u_per_l": "ND"}


@pytest.fixture
def coded(client_for, clinician, patient):
    response = post_cycle(client_for(clinician), patient, **{
        "assessment-aldolase_u_per_l_missing": "ND", "assessment-mmt_biceps": "",
        "assessment-mmt_biceps_missing": "UNK", "cycle-height_cm_missing": "ASKU",
        "day1-max_rate_ml_per_h": "", "day1-max_rate_ml_per_h_missing": "ND"})
    assert response.status_code == 302, entry_errors(response)
    return Patient.objects.all()


def test_csv_rows_carry_the_code_beside_an_empty_value(coded):
    (row,) = list(datasets.assessment_rows(coded))
    assert row["aldolase_u_per_l"] is None and row["aldolase_u_per_l_missing"] == "ND"
    assert row["ck_u_per_l_missing"] is None
    texts = datasets.TABLES_BY_NAME["infusions"].text_rows(coded)
    names = datasets.TABLES_BY_NAME["infusions"].column_names
    day1 = dict(zip(names, next(iter(texts))))
    assert day1["max_rate_ml_per_h"] in (None, "") and day1["max_rate_ml_per_h_missing"] == "ND"
    dictionary = {(r["table"], r["variable"]): r for r in datasets.dictionary_rows()}
    assert "ND=Not done" in dictionary[("assessments", "aldolase_u_per_l_missing")]["allowed_codes"]


def test_a_coded_criterion_exports_empty_not_false(client_for, clinician, patient):
    url = reverse("patients:diagnosis_edit", args=[patient.pk])
    client_for(clinician).post(url, {"kind": "DM", "diagnosis_date": "2025-02-01", "bp_weakness": "on",
                                     "bp_enzymes": "on", "bp_emg": "on", "heliotrope_rash": "on",
                                     "bp_biopsy_missing": "NA"})
    (row,) = list(datasets.diagnosis_rows(Patient.objects.all()))
    assert row["bp_biopsy"] is None and row["bp_biopsy_missing"] == "NA"
    assert row["bp_emg"] is True and row["bp_emg_missing"] is None


@pytest.mark.req("URS-CHK-004")
def test_sdtm_writes_not_done_with_the_reason(coded, tmp_path):
    lb = [r for r in sdtm.lb_records(coded) if r["LBTESTCD"] == "ALDOLASE"]
    assert lb == [pytest.approx(lb[0])] and lb[0]["LBSTAT"] == "NOT DONE" and lb[0]["LBREASND"] == "NOT DONE"
    assert lb[0].get("LBORRES") is None
    ft = {r["FTTESTCD"]: r for r in sdtm.ft_records(coded)}
    assert (ft["MMTBICEP"]["FTSTAT"], ft["MMTBICEP"]["FTREASND"]) == ("NOT DONE", "UNKNOWN")
    vs = {r["VSTESTCD"]: r for r in sdtm.vs_records(coded)}
    assert vs["HEIGHT"]["VSREASND"] == "ASKED BUT UNKNOWN"

    import zipfile
    path = tmp_path / "sdtm.zip"
    path.write_bytes(b"".join(sdtm.sdtm_zip(coded)))
    with zipfile.ZipFile(path) as archive:
        archive.extractall(tmp_path / "sdtm")
    data, _ = pyreadstat.read_xport(str(tmp_path / "sdtm" / "lb.xpt"))
    row = data[data["LBTESTCD"] == "ALDOLASE"].iloc[0]
    assert (row["LBSTAT"], row["LBREASND"], row["LBORRES"]) == ("NOT DONE", "NOT DONE", "")


@pytest.mark.req("URS-CHK-004")
def test_fhir_observation_has_a_data_absent_reason(coded):
    bundle = json.loads(b"".join(fhir_bundle(coded)))
    observations = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"]
    (aldolase,) = [o for o in observations if o["code"].get("text") == "aldolase"
                   or "ldolase" in json.dumps(o["code"])]
    assert "valueQuantity" not in aldolase
    assert aldolase["dataAbsentReason"]["coding"][0] == {
        "system": "http://terminology.hl7.org/CodeSystem/data-absent-reason", "code": "not-performed",
        "display": "Not Performed"}
    from fhir.resources.R4B.observation import Observation
    Observation.model_validate(aldolase)


def test_odm_carries_the_code_as_its_own_item_and_validates(coded):
    schema = etree.XMLSchema(etree.parse(str(Path(datasets.__file__).resolve().parent / "schemas"
                                              / "odm-1.3.2" / "ODM1-3-2.xsd")))
    doc = etree.fromstring(b"".join(odm.odm_xml(coded)))
    schema.assertValid(doc)
    ns = {"odm": odm.ODM_NAMESPACE}
    item = doc.findall(".//odm:ItemData[@ItemOID='IT.ASSESSMENTS.ALDOLASE_U_PER_L_MISSING']", ns)
    assert [i.get("Value") for i in item] == ["ND"]
    assert doc.findall(".//odm:ItemDef[@OID='IT.ASSESSMENTS.ALDOLASE_U_PER_L_MISSING']", ns)
    assert doc.findall(".//odm:CodeList[@OID='CL.ASSESSMENTS.ALDOLASE_U_PER_L_MISSING']", ns)


def test_completeness_counts_coded_fields_with_their_reason(client_for, monitor, coded, site_b,
                                                            django_assert_num_queries):
    from oversight.completeness import completeness

    client = client_for(monitor)
    client.get("/oversight/completeness/")  # warm the session and content types
    with django_assert_num_queries(9):
        response = client.get(reverse("oversight:completeness"))
    assert response.status_code == 200
    forms = {str(f.label): {x.name: x for x in f.fields} for f in response.context["forms"]}
    aldolase = forms["assessments"]["aldolase_u_per_l"]
    assert (aldolase.missing, aldolase.coded, aldolase.blank) == (1, [("Not done", 1)], 0)
    ast = forms["assessments"]["ast_u_per_l"]
    assert (ast.missing, ast.coded, ast.blank) == (1, [], 1)
    rate = forms["infusions"]["max_rate_ml_per_h"]
    assert (rate.missing, rate.coded) == (1, [("Not done", 1)])
    page = response.content.decode()
    assert 'data-field="aldolase_u_per_l"' in page and "Not done: 1" in page
    # A clinician of another site sees none of these records.
    from tests.conftest import _user_with_role
    other = _user_with_role("clinician", site_b, username="other")
    assert all(f.records == 0 for f in completeness(other))


@pytest.mark.req("URS-CHK-004")
def test_the_report_counts_missing_values_with_the_reason(client_for, coordinator, coded):
    response = client_for(coordinator).get(reverse("reporting:report"))
    missing = {str(m.label): m for m in response.context["report"].missing}
    assert missing["aldolase (U/L)"].coded == [("Not done", 1)]
    assert missing["AST (U/L)"].blank == 1 and missing["AST (U/L)"].coded == []
    assert "not done: 1" in response.content.decode()
