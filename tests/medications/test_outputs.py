"""Where the medications go: the casebook (page and PDF forms), the outcome report (counts
from the stored flags), the CSV tables and dictionary, SDTM CM (read back with pyreadstat),
FHIR MedicationStatement (validated with fhir.resources) and ODM (validated with the XSD)."""

import io
import json
import zipfile
from datetime import timedelta
from pathlib import Path

import pyreadstat
import pytest
from django.urls import reverse
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.medicationstatement import MedicationStatement
from lxml import etree

from exchange import datasets
from exchange.exports.fhir import fhir_bundle
from exchange.exports.odm import odm_xml
from exchange.exports.sdtm import CM_VARS, sdtm_zip
from medications.services import medication_void
from patients.models import Patient
from reporting.selectors import outcome_report

from .conftest import medication

pytestmark = pytest.mark.django_db
ODM_XSD = Path("/work/shared/schemas/odm-1.3.2/ODM1-3-2.xsd")


@pytest.fixture
def medications(patient):
    first = patient.first_infusion_date
    return {
        "prednisone": medication(patient, start_date=first + timedelta(days=20)),
        "statin": medication(patient, drug_name="Tahor", atc_code="C10AA05", indication="cholesterol", dose=10,
                             start_date=first - timedelta(days=300)),
        "paracetamol": medication(patient, drug_name="Doliprane", atc_code="", indication="", dose=None,
                                  dose_unit="", route="", frequency="PRN", start_date=first,
                                  ongoing=False, end_date=first + timedelta(days=2)),
        "voided": medication(patient, drug_name="Imurel", atc_code="L04AX01"),
    }


@pytest.fixture
def current(medications):
    voided = medications["voided"]
    medication_void(medication=voided, reason="wrong patient", expected_version=voided.version)
    return medications


def test_the_casebook_shows_the_medications(client_for, clinician, patient, current):
    response = client_for(clinician).get(reverse("casebook:casebook_detail", args=[patient.pk]))
    assert response.status_code == 200
    casebook = response.context["casebook"]
    assert len(casebook.medications) == 4  # voided ones too, as the other forms
    content = response.content.decode()
    assert 'id="medications"' in content and "Tahor" in content and "Glucocorticoids" in content


@pytest.mark.req("URS-PRT-019")
def test_the_report_counts_patients_started_on_corticosteroids_from_the_stored_flags(patient, current):
    report = outcome_report(Patient.objects.all())
    m = report.medications
    assert (m["corticosteroid_started"].k, m["corticosteroid_started"].n) == (1, 1)
    assert m["immunosuppressant_started"].k == 0  # azathioprine was voided
    assert (m["statin"], m["oestrogen"]) == (1, 0)
    assert [(row.subject_id, row.drug_name) for row in m["started"]] == [("01-001", "Cortancyl")]


def test_the_report_page_shows_them(client_for, coordinator, patient, current):
    response = client_for(coordinator).get("/reports/")
    content = response.content.decode()
    assert 'id="corticosteroid-started"' in content and "Cortancyl" in content


def test_the_tables_and_the_dictionary(patient, current):
    rows = list(datasets.TABLES_BY_NAME["medications"].rows(Patient.objects.all()))
    assert [r["drug_name"] for r in rows] == ["Tahor", "Doliprane", "Cortancyl"]  # by start date
    assert rows[2]["corticosteroid"] is True and rows[2]["started_during_study"] is True
    assert {r["variable"] for r in datasets.dictionary_rows() if r["table"] == "medications"} >= {
        "atc_code", "corticosteroid", "started_during_study"}


def test_sdtm_cm_reads_back_with_its_required_variables(patient, current, tmp_path):
    archive = zipfile.ZipFile(io.BytesIO(b"".join(sdtm_zip(Patient.objects.all()))))
    (tmp_path / "cm.xpt").write_bytes(archive.read("cm.xpt"))
    frame, meta = pyreadstat.read_xport(str(tmp_path / "cm.xpt"))
    assert list(frame.columns) == [v.name for v in CM_VARS]
    assert len(frame) == 3
    for name in ("STUDYID", "DOMAIN", "USUBJID", "CMSEQ", "CMTRT", "CMSTDTC"):
        assert frame[name].astype(str).str.len().gt(0).all(), name
    assert set(frame["DOMAIN"]) == {"CM"}
    assert list(frame["CMSEQ"]) == [1, 2, 3]
    by_term = frame.set_index("CMTRT")
    assert by_term.loc["Cortancyl", "CMDECOD"] == "PREDNISONE"
    assert by_term.loc["Cortancyl", "CMCLASCD"] == "H02AB"
    assert by_term.loc["Cortancyl", "CMENRTPT"] == "ONGOING"
    assert by_term.loc["Cortancyl", "CMENTPT"] == "END OF STUDY"
    assert by_term.loc["Doliprane", "CMDECOD"] == ""  # no code: no standardised name
    assert by_term.loc["Doliprane", "CMENDTC"] != "" and by_term.loc["Doliprane", "CMENRTPT"] == ""
    assert by_term.loc["Tahor", "CMSTDY"] < 0
    readme = archive.read("README.txt").decode()
    assert "- CM (Concomitant/Prior Medications, 3 records)" in readme and "CMENRTPT" in readme


def test_fhir_medication_statements_validate(patient, current):
    bundle = json.loads(b"".join(fhir_bundle(Patient.objects.all())))
    Bundle.model_validate(bundle)
    statements = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "MedicationStatement"]
    assert len(statements) == 3
    for statement in statements:
        MedicationStatement.model_validate(statement)
    cortancyl = next(s for s in statements if s["medicationCodeableConcept"]["text"] == "Cortancyl")
    assert cortancyl["medicationCodeableConcept"]["coding"] == [
        {"system": "http://www.whocc.no/atc", "code": "H02AB07", "display": "prednisone"}]
    assert cortancyl["status"] == "active" and "end" not in cortancyl["effectivePeriod"]
    assert cortancyl["reasonCode"] == [{"text": "myositis"}]
    assert cortancyl["dosage"][0]["doseAndRate"][0]["doseQuantity"]["code"] == "mg"
    doliprane = next(s for s in statements if s["medicationCodeableConcept"]["text"] == "Doliprane")
    assert doliprane["status"] == "completed" and "coding" not in doliprane["medicationCodeableConcept"]
    assert doliprane["dosage"][0]["asNeededBoolean"] is True


def test_odm_carries_the_medications_and_validates(patient, current):
    data = b"".join(odm_xml(Patient.objects.all()))
    schema = etree.XMLSchema(etree.parse(str(ODM_XSD)))
    document = etree.fromstring(data)
    assert schema.validate(document), schema.error_log.last_error
    ns = {"odm": "http://www.cdisc.org/ns/odm/v1.3"}
    groups = document.findall(".//odm:ItemGroupData[@ItemGroupOID='IG.MEDICATIONS']", ns)
    assert len(groups) == 3
    assert all(g.find("odm:AuditRecord", ns) is not None for g in groups)
    assert document.find(".//odm:FormDef[@OID='F.MEDICATIONS']", ns) is not None
