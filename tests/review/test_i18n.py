"""Data queries (demandes de correction), source data verification (VDS), electronic
signatures and their invalidation, in French (issue 16): the screens and messages follow
the reader's language, what is stored (reasons, the signature's meaning) does not."""

from datetime import date, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import translation

from core.services import record_save
from review import services as review_services
from review.models import ALTERED_OUTSIDE_REASON, ReviewInvalidation, SignatureMeaning, SourceVerification
from safety import services as safety_services
from safety.models import AdverseEvent
from tests.patients.factories import PatientFactory
from tests.visits.factories import full_cycle

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _back_to_the_default_language():
    """A French request leaves French active in the thread: the next test (in English)
    must not inherit it."""
    yield
    translation.deactivate()
FRENCH = {"HTTP_ACCEPT_LANGUAGE": "fr"}
PASSWORD = "correct horse battery"


@pytest.fixture
def patient(site_a):
    return PatientFactory(site=site_a, subject_id="01-001", enrolment_date=date(2025, 3, 1))


@pytest.fixture
def event(patient):
    return safety_services.adverse_event_save(event=AdverseEvent(
        patient=patient, term="Headache", onset_date=date(2025, 3, 18), grade=2,
        relatedness="possible", action_taken="none", outcome="recovering"))


def test_the_ae_edit_page_shows_queries_and_the_invalidation_warning_in_french(client_for, monitor, clinician,
                                                                              patient, event):
    review_services.record_verify(record=event, user=monitor)
    query = review_services.query_raise(record=event, field_name="grade", field_label="CTCAE grade",
                                        record_label="Adverse event Headache", question="Grade 3 on the chart?",
                                        user=monitor)
    html = client_for(clinician).get(reverse("safety:ae_update", args=[patient.pk, event.pk]),
                                     **FRENCH).content.decode()
    assert "Enregistrer une modification invalidera :" in html
    assert "la vérification des données source de ce formulaire « événement indésirable » (" in html
    verified = SourceVerification.objects.get().verified_at
    assert verified.strftime("%d/%m/%Y") in html  # the SDV's date, as French writes it
    # The thread beside the form, its field named in French from its code, and the answer box.
    assert "Demandes de correction sur Adverse event Headache" in html  # the stored label: data
    assert "Demande ouverte" in html and ">Grade CTCAE</a>" in html
    assert "Votre réponse sur Grade CTCAE" in html and "Envoyer la réponse" in html
    assert "Demande de correction ouverte : voir sa discussion à côté du formulaire." in html
    assert "(question):</span> Grade 3 on the chart?" in html
    assert f'id="query-thread-{query.pk}"' in html


def test_the_read_only_form_shows_sdv_and_query_controls_in_french(client_for, monitor, clinician, patient, event):
    review_services.record_verify(record=event, user=monitor, field_name="term")
    review_services.query_raise(record=event, field_name="grade", field_label="CTCAE grade",
                                record_label="Adverse event Headache", question="Grade?", user=monitor)
    html = client_for(monitor).get(reverse("safety:ae_detail", args=[patient.pk, event.pk]),
                                   **FRENCH).content.decode()
    assert "VDS&nbsp;&#10003;" in html or "VDS\xa0✓" in html
    assert "demande ouverte" in html
    assert "Vérifier le formulaire" in html and "Émettre une demande de correction sur ce formulaire" in html
    assert "Formulaire non vérifié sur les données source" in html
    assert "1 champ vérifié individuellement" in html


def test_an_invalidation_made_in_french_stores_an_english_reason(monitor, clinician, patient, event):
    review_services.record_verify(record=event, user=monitor)
    review_services.record_verify(record=event, user=monitor, field_name="grade")
    with translation.override("fr"):
        current = AdverseEvent.objects.get(pk=event.pk)
        current.grade = 3
        record_save(instance=current, reason="Grade corrigé selon le dossier source", user=clinician,
                    expected_version=current.version)
    reasons = sorted(ReviewInvalidation.objects.values_list("reason", flat=True))
    who = clinician.get_username()
    assert reasons == [
        f"Adverse event changed by {who}: Grade corrigé selon le dossier source",
        f"CTCAE grade of adverse event Headache (grade 3) changed by {who}: Grade corrigé selon le dossier source",
    ]
    history_reasons = set(ReviewInvalidation.history.values_list("history_change_reason", flat=True))
    assert history_reasons == {"Source data verification invalidated"}
    # Shown as data: the user's words and the names in the source language, in any language.
    with translation.override("fr"):
        mark = SourceVerification.objects.get(field_name="grade")
        assert mark.invalidated_reason.startswith("CTCAE grade of adverse event")
        assert mark.field_label == "Grade CTCAE"  # the field, named from its code, in French


def test_the_fixed_reason_is_stored_in_english_and_shown_translated(monitor, patient, event):
    verification = review_services.record_verify(record=event, user=monitor)
    AdverseEvent.objects.filter(pk=event.pk).update(term="Migraine")  # behind the application's back
    with translation.override("fr"):
        review_services.record_verify(record=event, user=monitor)  # invalidates the altered one first
    stored = ReviewInvalidation.objects.get(verification=verification)
    assert stored.reason == ALTERED_OUTSIDE_REASON
    verification = SourceVerification.objects.get(pk=verification.pk)
    with translation.override("fr"):
        assert verification.invalidated_reason.startswith("Les données ne correspondent plus à l'empreinte")
    with translation.override("en"):
        assert verification.invalidated_reason == ALTERED_OUTSIDE_REASON


@pytest.mark.req("URS-SIG-001")
def test_the_signature_meaning_is_stored_neutral_and_shown_translated(rf, investigator, patient):
    cycle = full_cycle(patient)
    request = rf.post("/")
    request.user = investigator
    request.session = {}
    with translation.override("fr"):
        signature = review_services.record_sign(record=cycle, user=investigator, password=PASSWORD,
                                                request=request)
    signature.refresh_from_db()
    assert signature.meaning == "reviewed and approved" == SignatureMeaning.REVIEWED
    with translation.override("fr"):
        assert signature.get_meaning_display() == "Revu et approuvé"
    with translation.override("en"):
        assert signature.get_meaning_display() == "Reviewed and approved"


def test_service_messages_are_in_the_reader_s_language(monitor, clinician, patient, event):
    query = review_services.query_raise(record=event, field_name="term", field_label="Event term",
                                        record_label="Adverse event Headache", question="Term?", user=monitor)
    with translation.override("fr"):
        with pytest.raises(ValidationError) as empty:
            review_services.query_answer(query=query, user=clinician, text=" ")
        assert empty.value.message_dict == {"text": ["Rédigez la réponse."]}
        with pytest.raises(ValidationError) as again:
            review_services.record_verify(record=event, user=monitor)
            review_services.record_verify(record=event, user=monitor)
        assert again.value.messages == ["Ce formulaire est déjà vérifié."]
        review_services.query_close(query=query, user=monitor)
        with pytest.raises(ValidationError) as closed:
            review_services.query_close(query=query, user=monitor)
        assert closed.value.messages == ["La demande est déjà clôturée."]
    # The closing message stored when the monitor wrote none: the source language.
    assert query.messages.last().text == "Closed."


def test_a_broken_cycle_signature_blocks_the_casebook_in_french(rf, investigator, clinician, patient):
    cycle = full_cycle(patient)
    request = rf.post("/")
    request.user = investigator
    request.session = {}
    review_services.record_sign(record=cycle, user=investigator, password=PASSWORD, request=request)
    cycle.refresh_from_db()
    cycle.weight_kg = cycle.weight_kg + 1
    record_save(instance=cycle, reason="Scale recalibrated", user=clinician, expected_version=cycle.version)
    with translation.override("fr"), pytest.raises(ValidationError) as refused:
        review_services.casebook_signable(patient)
    message = refused.value.messages[0]
    assert message.startswith("Le cahier d'observation ne peut pas être signé tant qu'une signature de cure "
                              "n'est pas valide : signez de nouveau cure 1 (")
    assert "Scale recalibrated" in message


def test_the_javascript_answer_messages_are_in_the_french_catalogue(client):
    catalogue = client.get("/jsi18n/fr/").content.decode()
    assert "R\\u00e9ponse envoy\\u00e9e : la demande est maintenant %(status)s." in catalogue \
        or "Réponse envoyée : la demande est maintenant %(status)s." in catalogue
    assert "Non envoy" in catalogue


def test_a_follow_up_rule_message_reads_in_the_reader_s_language(monitor, clinician, event):
    with pytest.raises(ValidationError) as refused:
        safety_services.adverse_event_follow_up(adverse_event=event, user=clinician,
                                                follow_up_date=event.onset_date - timedelta(days=1),
                                                note="Earlier.", outcome="recovering")
    # The rule's message is lazy: it reads in the language of whoever shows it.
    with translation.override("fr"):
        assert refused.value.message_dict["follow_up_date"] == [
            "La date du suivi ne peut pas précéder le début de l'événement."]
    with translation.override("en"):
        assert refused.value.message_dict["follow_up_date"] == [
            "The follow-up date cannot be before the onset of the event."]
