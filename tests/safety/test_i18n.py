"""The adverse-event screens in French (issue 16): labels, CTCAE grade descriptions,
WHO-UMC causality (imputabilité), dd/mm/yyyy dates and French date-times accepted,
validation messages in French; what is stored is the same whatever the language."""

from datetime import date, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone, translation

from safety import rules
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
#: What is compared between an event entered in English and one entered in French.
STORED = ("term", "description", "infusion_id", "onset_date", "end_date", "aware_at", "grade", "serious",
          *AdverseEvent.CRITERIA, "relatedness", "action_taken", "outcome", "sae_entered_at", "report_due_at",
          "reported_late", "rules_version", "reviewed_at", "voided_at", "void_reason")


@pytest.fixture
def patient(site_a):
    return PatientFactory(site=site_a, subject_id="01-001", enrolment_date=date(2025, 3, 1))


def english_post(**overrides):
    data = {"term": "Aseptic meningitis", "description": "Headache, neck stiffness.", "onset_date": "2025-03-18",
            "end_date": "2025-03-24", "aware_at": "2025-03-19 08:30", "grade": "3", "serious": "on",
            "serious_hospitalisation": "on", "relatedness": "probable", "action_taken": "interrupted",
            "outcome": "recovered"}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def french_post(**overrides):
    """The same event typed in French: dd/mm/yyyy dates, a French date-time."""
    data = {"onset_date": "18/03/2025", "end_date": "24/03/2025", "aware_at": "19/03/2025 08:30"}
    data.update(overrides)
    return english_post(**data)


def test_the_ae_form_is_in_french_with_french_date_inputs(client_for, clinician, patient):
    full_cycle(patient)
    page = client_for(clinician).get(reverse("safety:ae_create", args=[patient.pk]), **FRENCH)
    html = page.content.decode()
    assert page["Content-Language"] == "fr"
    assert "Déclarer un événement indésirable pour 01-001" in html
    for text in ("Libellé de l&#x27;événement", "Date de début", "Grade CTCAE", "Intensité et gravité",
                 "Imputabilité aux IgIV (OMS-UMC)", "Mesure prise concernant les IgIV", "Évolution",
                 "Entraîne le décès", "Met en jeu le pronostic vital", "Non lié à une perfusion",
                 "Date et heure de prise de connaissance par le centre"):
        assert text in html, text
    # The grade descriptions are translated; the values posted stay the CTCAE codes.
    assert '<option value="3">3 – sévère</option>' in html
    assert '<option value="probable">Probable / vraisemblable</option>' in html
    assert '<option value="recovered">Rétabli / résolu</option>' in html
    assert '<option value="none" selected>Aucune</option>' in html
    # A linked infusion is named in French with a French date.
    assert "Cure 1, J1 (" in html
    assert "JJ/MM/AAAA" in html  # the date inputs' placeholder


def test_an_event_entered_in_french_stores_what_the_english_entry_stores(client_for, clinician, site_a):
    first = PatientFactory(site=site_a, subject_id="01-001", enrolment_date=date(2025, 3, 1))
    second = PatientFactory(site=site_a, subject_id="01-002", enrolment_date=date(2025, 3, 1))
    client = client_for(clinician)
    english = client.post(reverse("safety:ae_create", args=[first.pk]), english_post(), HTTP_ACCEPT_LANGUAGE="en")
    assert english.status_code == 302, english.context["form"].errors
    french = client.post(reverse("safety:ae_create", args=[second.pk]), french_post(), **FRENCH)
    assert french.status_code == 302, french.context["form"].errors
    event_en, event_fr = AdverseEvent.objects.get(patient=first), AdverseEvent.objects.get(patient=second)
    stored_en = {name: getattr(event_en, name) for name in STORED}
    stored_fr = {name: getattr(event_fr, name) for name in STORED}
    # The SAE clock runs from the entry (a few milliseconds apart): compared from awareness.
    for stored in (stored_en, stored_fr):
        stored.pop("sae_entered_at")
    assert stored_fr == stored_en
    assert event_fr.onset_date == date(2025, 3, 18) and event_fr.end_date == date(2025, 3, 24)
    assert timezone.localtime(event_fr.aware_at).replace(tzinfo=None) == datetime(2025, 3, 19, 8, 30)
    assert event_fr.report_due_at == event_fr.aware_at + timedelta(hours=24)
    assert event_fr.relatedness == "probable" and event_fr.outcome == "recovered" and event_fr.grade == 3
    # The history rows hold the same values, no label in either language.
    history_en = event_en.history.get()
    history_fr = event_fr.history.get()
    assert all(getattr(history_fr, name) == getattr(history_en, name) for name in stored_en)


def test_iso_dates_are_accepted_in_french_too(client_for, clinician, patient):
    response = client_for(clinician).post(reverse("safety:ae_create", args=[patient.pk]),
                                          english_post(aware_at="2025-03-19 08:30"), **FRENCH)
    assert response.status_code == 302
    assert AdverseEvent.objects.get().onset_date == date(2025, 3, 18)


@pytest.mark.parametrize("overrides, field, message", [
    ({"serious_hospitalisation": None}, "serious",
     "Un événement grave nécessite au moins un critère de gravité."),
    ({"outcome": "fatal"}, "grade", "Une évolution fatale correspond au grade CTCAE 5 (décès)."),
    ({"end_date": "17/03/2025"}, "end_date", "La date de fin ne peut pas précéder le début."),
    ({"onset_date": "18/03/2099", "end_date": None, "outcome": "recovering", "aware_at": None}, "onset_date",
     "La date de début ne peut pas être dans le futur."),
    ({"onset_date": "2025-02-15"}, "onset_date",
     "Dans cette étude, un événement indésirable commence le jour de l&#x27;inclusion ou après"),
    ({"aware_at": "17/03/2025 10:00"}, "aware_at",
     "Le centre ne peut pas avoir eu connaissance de l&#x27;événement avant son début."),
    ({"onset_date": "31/02/2025"}, "onset_date", "Saisissez une date valide."),
])
def test_validation_messages_are_in_french(client_for, clinician, patient, overrides, field, message):
    data = french_post()
    data.update({k: v for k, v in overrides.items() if v is not None})
    for name in [k for k, v in overrides.items() if v is None]:
        data.pop(name, None)
    response = client_for(clinician).post(reverse("safety:ae_create", args=[patient.pk]), data, **FRENCH)
    assert response.status_code == 200
    assert field in response.context["form"].errors
    if message:
        assert message in response.content.decode()
    assert not AdverseEvent.objects.exists()


def test_grade_5_without_death_says_so_in_french(client_for, clinician, patient):
    data = french_post(grade="5")
    response = client_for(clinician).post(reverse("safety:ae_create", args=[patient.pk]), data, **FRENCH)
    html = response.content.decode()
    assert "Le grade 5 correspond au décès : déclarez l&#x27;événement grave avec le critère « entraîne le décès »." \
        in html
    assert "Un événement de grade 5 a l&#x27;évolution « décès »." in html


def test_the_ae_list_and_detail_are_in_french_with_french_dates(client_for, clinician, monitor, patient):
    client = client_for(clinician)
    client.post(reverse("safety:ae_create", args=[patient.pk]), french_post(), **FRENCH)
    event = AdverseEvent.objects.get()
    html = client_for(monitor).get(reverse("safety:ae_list"), {"serious": "1"}, **FRENCH).content.decode()
    for text in ("Événements indésirables graves", "1 événement", "Imputabilité", "Probable / vraisemblable",
                 "Perfusion interrompue", "Rétabli / résolu", "nécessite ou prolonge une hospitalisation",
                 "18/03/2025", "24/03/2025", "19/03/2025 08:30", "échéance 20/03/2025 08:30", "oui"):
        assert text in html, text
    assert "2025-03-18" not in html
    detail = client_for(clinician).get(reverse("safety:ae_detail", args=[patient.pk, event.pk]),
                                       **FRENCH).content.decode()
    assert "Événement indésirable de 01-001 : Aseptic meningitis" in detail
    assert "Événement indésirable : Aseptic meningitis (grade 3), début le 18/03/2025" in detail
    assert "lecture seule" in detail and "Corriger cet événement" in detail


def test_a_follow_up_in_french_stores_a_neutral_reason(client_for, clinician, patient):
    client = client_for(clinician)
    client.post(reverse("safety:ae_create", args=[patient.pk]),
                french_post(outcome="recovering", end_date=None), **FRENCH)
    event = AdverseEvent.objects.get()
    url = reverse("safety:ae_follow_up", args=[patient.pk, event.pk])
    html = client.get(url, **FRENCH).content.decode()
    assert "Suivi de Aseptic meningitis (01-001)" in html and "Ajouter le suivi" in html
    assert "Début le 18/03/2025, grade 3" in html
    response = client.post(url, {"follow_up_date": "25/03/2025", "note": "Headache settling.",
                                 "outcome": "recovered", "end_date": "24/03/2025"}, **FRENCH)
    assert response.status_code == 302
    event.refresh_from_db()
    assert event.outcome == "recovered" and event.end_date == date(2025, 3, 24)
    # The reason stored with the change of the event: English and ISO, whatever the language.
    assert event.history.latest().history_change_reason == "Follow-up of 2025-03-25: Headache settling."
    page = client.get(reverse("safety:ae_detail", args=[patient.pk, event.pk]), **FRENCH).content.decode()
    assert "Suivi de Aseptic meningitis du 25/03/2025" in page


def test_a_follow_up_error_is_in_french(client_for, clinician, patient):
    client = client_for(clinician)
    client.post(reverse("safety:ae_create", args=[patient.pk]),
                french_post(outcome="recovering", end_date=None), **FRENCH)
    event = AdverseEvent.objects.get()
    response = client.post(reverse("safety:ae_follow_up", args=[patient.pk, event.pk]),
                           {"follow_up_date": "25/03/2025", "note": "Better.", "outcome": "recovered"}, **FRENCH)
    assert response.status_code == 200
    assert "Cette évolution résout l&#x27;événement : indiquez la date à laquelle il a pris fin." \
        in response.content.decode()


def test_the_review_clock_and_the_labels_speak_the_reader_s_language():
    due = timezone.now()
    clock = rules.review_clock(due_at=due, now=due - timedelta(hours=3, minutes=5))
    late = rules.review_clock(due_at=due, now=due + timedelta(hours=26))
    with translation.override("en"):
        assert clock.label == "3h 05m left" and late.label == "overdue by 26h 00m"
    with translation.override("fr"):
        assert clock.label == "il reste 3 h 05 min" and late.label == "en retard de 26 h 00 min"
        assert str(rules.CTCAE_GRADES[4]) == "4 – mettant en jeu le pronostic vital"
        assert str(rules.Relatedness.UNLIKELY.label) == "Peu probable"
        assert dict(rules.SERIOUSNESS_CRITERIA)["serious_death"] == "entraîne le décès"
    # The stored codes never change with the language.
    assert rules.Relatedness.UNLIKELY == "unlikely" and rules.Outcome.FATAL == "fatal"


def test_rule_messages_are_translated_where_they_are_shown_not_where_they_are_made():
    """``rules.py`` returns lazy messages: the same violation reads in each reader's language."""
    violations = rules.ae_violations(
        today=date(2025, 4, 1), grade=3, serious=True, criteria={}, outcome="recovered",
        onset_date=date(2025, 3, 18), end_date=None, enrolment_date=date(2025, 3, 1))
    (violation,) = violations
    assert violation.code == "criterion_required"
    with translation.override("en"):
        assert str(violation.message) == "A serious event needs at least one seriousness criterion."
    with translation.override("fr"):
        assert str(violation.message) == "Un événement grave nécessite au moins un critère de gravité."
