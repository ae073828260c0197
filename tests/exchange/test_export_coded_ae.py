"""The coded adverse event in the exports (issue 17, point 5): SDTM AE's MedDRA variables
(read back from the XPT with pyreadstat), FHIR AdverseEvent.event's MedDRA coding, the
cohort datasets' columns."""

import importlib
import json

import pytest
from django.core.management import call_command

from coding.selectors import term_by_llt_code
from exchange import datasets
from exchange.exports import fhir
from patients.models import Patient
from safety import services
from safety.models import AdverseEvent
from tests.exchange.test_export_sdtm import export, read_csv, read_xpt

pytestmark = pytest.mark.django_db

MEDDRA_VARS = ["AELLT", "AELLTCD", "AEDECOD", "AEPTCD", "AEBODSYS", "AEBDSYCD", "AESOC", "AESOCCD"]


@pytest.fixture
def seeded(settings):
    settings.DEBUG = True
    call_command("seed_demo", verbosity=0)


def test_the_demo_event_is_coded(seeded):
    event = AdverseEvent.objects.get()
    assert (event.term, event.meddra_llt_name, event.meddra_llt_code) == (
        "Infusion-related reaction", "Infusion related reaction", "10051792")
    assert event.meddra_soc_name == "Injury, poisoning and procedural complications"


def test_sdtm_ae_carries_the_meddra_variables(seeded, tmp_path):
    folder = export(Patient.objects.all(), tmp_path)
    data, meta = read_xpt(folder, "AE")
    assert set(MEDDRA_VARS) <= set(data.columns)
    row = data.iloc[0]
    assert row["AETERM"] == "Infusion-related reaction"  # as reported
    assert (row["AELLT"], row["AELLTCD"]) == ("Infusion related reaction", 10051792)
    assert (row["AEDECOD"], row["AEPTCD"]) == ("Infusion related reaction", 10051792)
    assert (row["AEBODSYS"], row["AEBDSYCD"]) == ("Injury, poisoning and procedural complications", 10022117)
    assert (row["AESOC"], row["AESOCCD"]) == (row["AEBODSYS"], row["AEBDSYCD"])
    labels = dict(zip(meta.column_names, meta.column_labels))
    assert labels["AEDECOD"] == "Dictionary-Derived Term" and labels["AESOCCD"] == "Primary System Organ Class Code"
    assert all(meta.readstat_variable_types[name] == "double" for name in ("AELLTCD", "AEPTCD", "AEBDSYCD", "AESOCCD"))
    [csv_row] = read_csv(folder, "AE")
    assert all(csv_row[name] for name in MEDDRA_VARS)


def test_a_ctcae_term_without_its_pt_stands_for_it_and_an_uncoded_event_has_none(seeded, tmp_path):
    patient = Patient.objects.get(subject_id=AdverseEvent.objects.get().patient.subject_id)
    event = AdverseEvent.objects.get()
    services.adverse_event_save(event=AdverseEvent(
        patient=patient, term="Raised CK", onset_date=event.onset_date, grade=1, relatedness="possible",
        outcome="recovering", coded_term=term_by_llt_code("10011268")))  # CPK increased: no PT in the list
    services.adverse_event_save(event=AdverseEvent(
        patient=patient, term="Odd feeling", onset_date=event.onset_date, grade=1, relatedness="unlikely",
        outcome="recovering"))
    data, _ = read_xpt(export(Patient.objects.all(), tmp_path), "AE")
    by_term = {row["AETERM"]: row for _, row in data.iterrows()}
    ck = by_term["Raised CK"]
    assert (ck["AELLT"], ck["AEDECOD"], ck["AEPTCD"], ck["AESOC"]) == (
        "CPK increased", "CPK increased", 10011268, "Investigations")
    odd = by_term["Odd feeling"]
    assert odd["AEDECOD"] == "" and odd["AELLT"] == ""


def test_fhir_adverse_event_is_coded_with_meddra_and_validates(seeded):
    bundle = json.loads(b"".join(fhir.fhir_bundle(Patient.objects.all())))
    [event] = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "AdverseEvent"]
    assert event["event"] == {"text": "Infusion-related reaction", "coding": [
        {"system": "http://terminology.hl7.org/CodeSystem/mdr", "code": "10051792",
         "display": "Infusion related reaction"}]}
    AdverseEventResource = importlib.import_module("fhir.resources.R4B.adverseevent").AdverseEvent
    AdverseEventResource.model_validate(event)


def test_the_cohort_dataset_and_its_dictionary_have_the_coded_columns(seeded):
    [row] = list(datasets.adverse_event_rows(Patient.objects.all()))
    assert (row["term"], row["meddra_llt"], row["meddra_llt_code"], row["meddra_soc_code"],
            row["coding_dictionary"]) == ("Infusion-related reaction", "Infusion related reaction", "10051792",
                                          "10022117", "CTCAE v5.0")
    names = [column.name for column in datasets.AE_COLUMNS]
    assert names[2:10] == ["term", "meddra_llt", "meddra_llt_code", "meddra_pt", "meddra_pt_code", "meddra_soc",
                           "meddra_soc_code", "coding_dictionary"]
