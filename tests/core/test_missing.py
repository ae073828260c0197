"""Missing-data codes (core.missing): the pure rule, and the model hook every channel runs."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from core.missing import FHIR_DATA_ABSENT, SDTM_REASND, MissingCode, missing_violations


def fields_and_codes(violations):
    return sorted((v.field, v.code) for v in violations)


ALLOWED = ("ck_u_per_l", "aldolase_u_per_l", "bp_emg")


@pytest.mark.req("URS-CHK-004")
def test_a_code_on_an_empty_optional_field_is_accepted():
    assert missing_violations(values={"ck_u_per_l": None, "aldolase_u_per_l": Decimal("5"), "bp_emg": False},
                              codes={"ck_u_per_l": "ND", "bp_emg": "UNK"}, allowed=ALLOWED) == []


@pytest.mark.req("URS-CHK-004")
def test_a_value_and_a_code_is_an_error_on_the_field():
    found = missing_violations(values={"ck_u_per_l": Decimal("300")}, codes={"ck_u_per_l": "ND"},
                               allowed=ALLOWED)
    assert fields_and_codes(found) == [("ck_u_per_l", "missing_with_value")]


def test_a_ticked_box_and_a_code_is_an_error():
    found = missing_violations(values={"bp_emg": True}, codes={"bp_emg": "NA"}, allowed=ALLOWED)
    assert fields_and_codes(found) == [("bp_emg", "missing_with_value")]


def test_unknown_fields_and_codes_are_errors_on_the_map():
    found = missing_violations(values={}, codes={"weight_kg": "ND", "ck_u_per_l": "NOPE"}, allowed=ALLOWED)
    assert fields_and_codes(found) == [("missing_codes", "missing_unknown_code"),
                                       ("missing_codes", "missing_unknown_field")]
    assert fields_and_codes(missing_violations(values={}, codes=["ND"], allowed=ALLOWED)) == [
        ("missing_codes", "missing_not_a_map")]


def test_required_unless_coded():
    assert fields_and_codes(missing_violations(values={"volume_ml": None}, codes={},
                                               allowed=("volume_ml",), required=("volume_ml",))) == [
        ("volume_ml", "required_unless_missing")]
    assert missing_violations(values={"volume_ml": None}, codes={"volume_ml": "ND"},
                              allowed=("volume_ml",), required=("volume_ml",)) == []
    assert missing_violations(values={"volume_ml": Decimal("700")}, codes={},
                              allowed=("volume_ml",), required=("volume_ml",)) == []


def test_every_code_has_its_fhir_and_sdtm_form():
    assert set(FHIR_DATA_ABSENT) == set(MissingCode) == set(SDTM_REASND)
    assert FHIR_DATA_ABSENT[MissingCode.NOT_DONE][0] == "not-performed"
    assert FHIR_DATA_ABSENT["ASKU"][0] == "asked-unknown"


@pytest.mark.django_db
def test_full_clean_runs_the_rule_on_every_model_that_declares_fields():
    from tests.patients.factories import DiagnosisFactory
    from tests.visits.factories import AssessmentFactory

    assessment = AssessmentFactory()
    assessment.missing_codes = {"ck_u_per_l": "ND", "weight": "ND"}
    with pytest.raises(ValidationError) as error:
        assessment.full_clean()
    assert {e.code for e in error.value.error_dict["ck_u_per_l"]} == {"missing_with_value"}
    assert {e.code for e in error.value.error_dict["missing_codes"]} == {"missing_unknown_field"}
    assessment.ck_u_per_l = None
    assessment.missing_codes = {"ck_u_per_l": "ND"}
    assessment.full_clean()

    diagnosis = DiagnosisFactory()
    diagnosis.bp_emg = False
    diagnosis.missing_codes = {"bp_emg": "UNK"}
    diagnosis.full_clean()
