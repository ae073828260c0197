"""The patient screens in French (issue 16): French labels, messages, dd/mm/yyyy dates and
decimal commas shown and accepted; what is stored, exported or audited stays neutral."""

import csv
import io
from datetime import date
from decimal import Decimal
from html import unescape

import pytest
from django.urls import reverse
from django.utils import translation

from core import crf
from core.history import display_plain, neutral_display_plain, neutral_display_value
from patients.models import Patient
from tests.patients.factories import DiagnosisFactory, MalignancyFactory, PatientFactory

pytestmark = pytest.mark.django_db

FRENCH = {"HTTP_ACCEPT_LANGUAGE": "fr-FR,fr;q=0.9"}


def _text(response):
    return unescape(response.content.decode())


def enrolment(**overrides):
    data = {
        "subject_id": "01-101", "site": "", "sex": "F", "birth_year": "1970", "birth_date": "",
        "race": "WHITE", "consent_date": "01/03/2025", "enrolment_date": "10/03/2025",
        "symptom_onset_date": "01/12/2024", "active_myopathy": "on",
        "suspected_cause": "none", "suspected_cause_detail": "", "status": "on_study",
    }
    data.update(overrides)
    return data


def test_enrolment_form_in_french(client_for, clinician):
    page = client_for(clinician).get(reverse("patients:patient_create"), **FRENCH)
    html = _text(page)
    assert page["Content-Language"] == "fr"
    for text in ("Inclusion et éligibilité", "Dépistage de sécurité IgIV", "Numéro patient",
                 "date du consentement éclairé", "Femme", "Dans l'étude", "JJ/MM/AAAA"):
        assert text.lower() in html.lower(), text


def test_french_enrolment_accepts_dd_mm_yyyy(client_for, clinician, site_a):
    response = client_for(clinician).post(reverse("patients:patient_create"),
                                          enrolment(site=site_a.pk), **FRENCH)
    assert response.status_code == 302, response.context["form"].errors
    patient = Patient.objects.get(subject_id="01-101")
    # Stored as dates, whatever the language they were typed in.
    assert patient.consent_date == date(2025, 3, 1)
    assert patient.enrolment_date == date(2025, 3, 10)
    assert patient.symptom_onset_date == date(2024, 12, 1)


def test_french_validation_messages(client_for, clinician, site_a):
    response = client_for(clinician).post(
        reverse("patients:patient_create"),
        enrolment(site=site_a.pk, consent_date="15/03/2025", subject_id="02-101"), **FRENCH)
    assert response.status_code == 200
    html = _text(response)
    assert "Le consentement doit être donné au plus tard à la date d'inclusion." in html
    assert "Un numéro patient du centre 01 commence par 01- (par exemple 01-001)." in html
    assert "Il y a 2 problèmes" in html
    # An impossible dd/mm/yyyy date: Django's own French message.
    response = client_for(clinician).post(reverse("patients:patient_create"),
                                          enrolment(site=site_a.pk, consent_date="31/02/2025"), **FRENCH)
    assert "Saisissez une date valide." in _text(response)


def test_patient_page_in_french(client_for, clinician, site_a):
    patient = PatientFactory(site=site_a, subject_id="01-001", renal_risk=True,
                             renal_risk_since=date(2025, 3, 1))
    DiagnosisFactory(patient=patient)
    MalignancyFactory(patient=patient, diagnosis_date=date(2020, 5, 4))
    html = _text(client_for(clinician).get(patient.get_absolute_url(), **FRENCH))
    assert "Patient 01-001" in html
    assert "Inclusion" in html and "Femme" in html and "Dermatomyosite (DM)" in html
    assert "10/03/2025" in html and "01/03/2025" in html and "01/12/2024" in html
    assert "04/05/2020" in html
    assert "Risque rénal : oui" in html
    assert "débit maximal abaissé" in html
    # The derived disease duration with a decimal comma (3.3 months at enrolment).
    assert "3,3 mois à l'inclusion" in html
    assert "Historique des modifications" in html


def test_patient_page_in_english_stays_iso(client_for, clinician, site_a):
    patient = PatientFactory(site=site_a, subject_id="01-001")
    html = _text(client_for(clinician).get(patient.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="en"))
    assert "2025-03-10" in html and "3.3 months at enrolment" in html


def test_patient_list_in_french_is_cached_per_language(client_for, clinician, site_a):
    PatientFactory(site=site_a, subject_id="01-001")
    client = client_for(clinician)
    english = _text(client.get(reverse("patients:patient_list"), HTTP_ACCEPT_LANGUAGE="en"))
    french = _text(client.get(reverse("patients:patient_list"), **FRENCH))
    assert "1 patient" in english and "Female" in english and "2025-03-10" in english
    assert "Femme" in french and "10/03/2025" in french and "Female" not in french
    assert "Enrol a patient" not in french and "Aucun patient" not in french


def test_crf_display_follows_the_language_the_audit_values_stay_neutral(site_a):
    patient = PatientFactory(site=site_a, subject_id="01-001")
    field = Patient._meta.get_field("enrolment_date")
    sex = Patient._meta.get_field("sex")
    with translation.override("fr"):
        assert crf.display(patient, "enrolment_date") == "10/03/2025"
        assert crf.display(patient, "sex") == "Femme"
        assert crf.display(patient, "active_myopathy") == "Oui"
        assert display_plain(Decimal("72.5")) == "72,5"
        # The neutral variant: what the audit CSV and the exports write.
        assert neutral_display_value(patient, field) == "2025-03-10"
        assert neutral_display_value(patient, sex) == "Female"
        assert neutral_display_plain(Decimal("72.5")) == "72.5"
        assert neutral_display_plain(True) == "Yes"
    with translation.override("en"):
        assert crf.display(patient, "enrolment_date") == "2025-03-10"
        assert display_plain(Decimal("72.5")) == "72.5"


def test_french_screens_leave_the_stored_history_reason_neutral(client_for, investigator, site_a):
    patient = PatientFactory(site=site_a, subject_id="01-001")
    response = client_for(investigator).post(
        reverse("patients:patient_withdraw", args=[patient.pk]),
        {"withdrawal_date": "01/04/2025", "withdrawal_reason": "Déménagement", "expected_version": patient.version},
        **FRENCH)
    assert response.status_code == 302
    patient.refresh_from_db()
    assert patient.withdrawal_date == date(2025, 4, 1)
    assert patient.history.first().history_change_reason == "Withdrawn: Déménagement"


@pytest.mark.req("URS-AUD-004")
def test_audit_csv_stays_iso_and_english_from_a_french_session(client_for, monitor, site_a):
    patient = PatientFactory(site=site_a, subject_id="01-001")
    patient.consent_date = date(2025, 3, 2)
    patient.save()
    response = client_for(monitor).get(reverse("oversight:audit_export"), {"patient": "01-001"}, **FRENCH)
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode("utf-8"))))
    values = {(row["field"], row["new"]) for row in rows}
    assert ("Date of informed consent", "2025-03-02") in values
    assert ("Sex", "Female") in values
    assert not any("/2025" in row["new"] or row["new"] in ("Femme", "Oui", "Non") for row in rows)
