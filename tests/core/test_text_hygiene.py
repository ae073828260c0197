"""Issue 12, finding 6: look-alike identifiers and invisible characters.

Identifiers and codes (subject id, site code, lot, product) are ASCII; every
free-text field of every clinical and oversight model refuses zero-width,
bidirectional-control and other control characters, whatever the channel
(model, form, admin, API, service)."""

from datetime import date

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse

from accounts.models import Site
from core.services import record_save
from review.models import DataQuery
from core.validation import (BIDI_CONTROL_CHARACTERS, ZERO_WIDTH_CHARACTERS, CleanTextModel,
                             text_field_errors)
from patients.models import Patient, subject_id_validator
from review import services as review_services
from safety.models import AdverseEvent
from tests.api.conftest import api_for  # noqa: F401 (fixture)
from tests.patients.factories import PatientFactory
from tests.visits.factories import full_cycle

LOOK_ALIKE_SUBJECT_IDS = [
    "01-\U0001d7ce\U0001d7ce\U0001d7cf",  # mathematical bold 001
    "01-\u0660\u0660\u0662",  # Arabic-Indic 002
    "01-\uff10\uff104",  # fullwidth 004
    "\uff10\uff11-001",  # fullwidth site code
    "01-\u0967\u0968\u0969",  # Devanagari 123
    "01-001\n",  # a trailing newline passed ``$``
]
FORBIDDEN_IN_TEXT = sorted(ZERO_WIDTH_CHARACTERS | BIDI_CONTROL_CHARACTERS) + [
    "\x00", "\x1b", "\x7f", "\x85", "\x9f", "\u2028", "\u00ad", "\ufffe", "\U0010ffff"]
#: Models of the clinical and oversight apps that are logs written by the system, not
#: data entered by people: they keep what they were given (an attacker's user agent).
SYSTEM_LOGS = {"oversight.accessevent", "reporting.exportlog", "accounts.membership",
               "oversight.failedlogincount"}  # counts of failed logins: the user names as typed


@pytest.fixture
def patient(site_a):
    return PatientFactory(site=site_a, subject_id="01-001", consent_date=date(2025, 3, 1),
                          enrolment_date=date(2025, 3, 10))


@pytest.mark.parametrize("value", LOOK_ALIKE_SUBJECT_IDS)
@pytest.mark.req("URS-CHK-006")
def test_subject_id_is_ascii_digits_only(value):
    with pytest.raises(ValidationError) as error:
        subject_id_validator(value)
    assert error.value.code == "subject_id_format"


@pytest.mark.parametrize("code", ["\u0660\u0661", "\uff10\uff11", "0\U0001d7cf", "01\n"])
def test_site_code_is_ascii_digits_only(db, code):
    with pytest.raises(ValidationError) as error:
        Site(code=code, name="Look-alike").full_clean()
    assert "code" in error.value.error_dict


@pytest.mark.parametrize("lot", ["\u200b", "LOT\u202e1", "L\uff2fT-1", "LOT-\u0661", " LOT-1", "LOT 1\t"])
def test_lot_and_product_are_printable_ascii(patient, lot):
    cycle = full_cycle(patient)
    infusion = cycle.infusions.get(day=1)
    infusion.lot = lot
    infusion.product = "IVIG\u200b 10 %"
    with pytest.raises(ValidationError) as error:
        infusion.full_clean()
    assert [e.code for e in error.value.error_dict["lot"]] == ["not_ascii"]
    assert [e.code for e in error.value.error_dict["product"]] == ["not_ascii"]


@pytest.mark.parametrize("char", FORBIDDEN_IN_TEXT)
def test_free_text_refuses_invisible_and_control_characters(patient, char):
    event = AdverseEvent(patient=patient, term=f"Head{char}ache", description=f"Seen{char} at day 2",
                         onset_date=date(2025, 3, 18), grade=1, relatedness="possible",
                         action_taken="none", outcome="recovering")
    with pytest.raises(ValidationError) as error:
        event.full_clean()
    assert set(error.value.error_dict) == {"term", "description"}
    assert error.value.error_dict["term"][0].code in {
        "zero_width_character", "bidi_control_character", "control_character", "invisible_character",
        "noncharacter"}


def test_multiline_text_keeps_tab_newline_cr_and_any_script(patient):
    event = AdverseEvent(patient=patient, term="Céphalée شديد 頭痛 💉 Ⅻ ½",
                         description="Line 1\r\n\tline 2 \u00a0 שלום",
                         onset_date=date(2025, 3, 18), grade=1, relatedness="possible",
                         action_taken="none", outcome="recovering")
    assert text_field_errors(event) == {}
    event.term = "Head\nache"  # a one-line field has no line break
    assert [e.code for e in text_field_errors(event)["term"]] == ["control_character"]


@pytest.mark.req("URS-CHK-006")
def test_every_clinical_and_oversight_model_checks_its_text_fields():
    """A new model (and so its new fields) in these apps is covered by its base class."""
    uncovered = []
    for label in ("accounts", "core", "patients", "visits", "safety", "review", "oversight", "reporting"):
        for model in apps.get_app_config(label).get_models():
            name = model._meta.label_lower
            if name.split(".")[1].startswith("historical") or name in SYSTEM_LOGS:
                continue
            has_text = any(isinstance(f, (models.CharField, models.TextField)) for f in model._meta.concrete_fields)
            if has_text and not issubclass(model, CleanTextModel):
                uncovered.append(name)
    assert uncovered == []


# --- Every channel -------------------------------------------------------------------

@pytest.mark.parametrize("subject_id", LOOK_ALIKE_SUBJECT_IDS[:3])
def test_form_refuses_a_look_alike_subject_id(client_for, clinician, site_a, subject_id):
    from tests.patients.test_views import patient_post

    response = client_for(clinician).post(reverse("patients:patient_create"), patient_post(subject_id=subject_id))
    assert response.status_code == 200
    assert "subject_id" in response.context["form"].errors
    assert not Patient.objects.exists()


@pytest.mark.parametrize("subject_id", LOOK_ALIKE_SUBJECT_IDS[:3])
def test_api_refuses_a_look_alike_subject_id(api_for, clinician, site_a, subject_id):
    from tests.api.test_records import patient_json

    response = api_for(clinician).post("/api/v1/patients/", patient_json(site_a, subject_id=subject_id),
                                       format="json")
    assert response.status_code == 400
    assert [e["code"] for e in response.json()["errors"]["subject_id"]] == ["subject_id_format"]
    assert not Patient.objects.exists()


def test_form_refuses_a_bidi_override_in_an_event_term(client_for, clinician, patient):
    from tests.safety.test_views import ae_post

    cycle = full_cycle(patient)
    url = reverse("safety:ae_create", args=[patient.pk])
    response = client_for(clinician).post(url, ae_post(infusion=cycle.infusions.get(day=2).pk,
                                                       term="Rash\u202edegnahc"))
    assert response.status_code == 200
    assert [e.code for e in response.context["form"].errors.as_data()["term"]] == ["bidi_control_character"]
    assert not AdverseEvent.objects.exists()


def test_reason_for_change_refuses_a_zero_width_space(patient):
    patient.sex = "M"
    with pytest.raises(ValidationError) as error:
        record_save(instance=patient, reason="\u200b", expected_version=patient.version)
    assert [e.code for e in error.value.error_dict["change_reason"]] == ["zero_width_character"]
    patient.refresh_from_db()
    assert (patient.sex, patient.version) == ("F", 1)


def test_query_messages_refuse_control_characters(monitor, clinician, patient):
    cycle = full_cycle(patient)
    with pytest.raises(ValidationError) as error:
        review_services.query_raise(record=cycle, field_name="weight_kg", field_label="Weight",
                                       record_label="Cycle 1", question="Weight\u2066?", user=monitor)
    assert "question" in error.value.error_dict
    assert not DataQuery.objects.exists()
    query = review_services.query_raise(record=cycle, field_name="weight_kg", field_label="Weight",
                                           record_label="Cycle 1", question="Weight?", user=monitor)
    with pytest.raises(ValidationError) as error:
        review_services.query_answer(query=query, user=clinician, text="OK\x00")
    assert "text" in error.value.error_dict
    assert query.messages.count() == 1


def test_query_reply_form_shows_the_error(client_for, monitor, clinician, patient):
    cycle = full_cycle(patient)
    query = review_services.query_raise(record=cycle, field_name="weight_kg", field_label="Weight",
                                           record_label="Cycle 1", question="Weight?", user=monitor)
    response = client_for(clinician).post(reverse("oversight:query_detail", args=[query.pk]),
                                          {"action": "answer", "text": "Checked\u200f."})
    assert response.status_code == 200
    assert query.messages.count() == 1
