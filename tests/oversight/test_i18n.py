"""Issue 16: oversight in French. The dashboard, the work lists and the audit trail's
screen follow the user's language (dd/mm/yyyy dates); what is stored or exported does
not: the audit trail's CSV, the AE listing's CSV, access-event details and the labels a
data query stores stay in English with ISO dates. A PDF casebook is made in the language
of the user who asked for it (the worker has no request)."""

import csv
import html
import io
import re
from datetime import date, timedelta

import pytest
from django.core.files.storage import default_storage
from django.urls import reverse
from django.utils import translation
from django.utils.text import capfirst
from icalendar import Calendar
from pypdf import PdfReader

from accounts.languages import choose
from core.services import record_save
from jobs.models import JobFile, JobFileStatus
from jobs.worker import run_pending
from oversight import casebook_jobs
from oversight.models import AccessEvent, AccessKind
from oversight.schedule import calendar_ics
from review.models import DataQuery
from tests.oversight.test_casebook_pdf import a_patient
from tests.patients.factories import PatientFactory
from visits.models import TreatmentCycle

pytestmark = pytest.mark.django_db

FRENCH_DATE = re.compile(r"\b\d{2}/\d{2}/\d{4}\b")
ISO_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")


@pytest.fixture
def french(client):
    """The test client, speaking French (the browser's choice)."""
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "fr"
    yield client
    client.defaults.pop("HTTP_ACCEPT_LANGUAGE", None)


def _text(response):
    assert response.status_code == 200
    return html.unescape(response.content.decode())


def _flat(text):
    return re.sub(r"\s+", " ", text)


# --- Screens ----------------------------------------------------------------------------------

def test_the_dashboard_is_in_french(french, admin_user, site_a):
    patient = a_patient(site_a, "01-001", cycles=2)
    french.force_login(admin_user)
    page = _text(french.get(reverse("oversight:dashboard")))
    assert '<html lang="fr"' in page
    for words in ("Complétude par centre", "Activité récente de la piste d'audit", "Clôture de l'étude",
                  "Archive de clôture", "sans signature valide", "Tous les patients"):
        assert words in page, words
    assert "Completion by site" not in page and "Recent audit activity" not in page
    last = TreatmentCycle.objects.filter(patient=patient).order_by("-start_date").first().start_date
    assert last.strftime("%d/%m/%Y") in page  # the last cycle's date, dd/mm/yyyy


def test_the_dashboard_stays_in_english_without_a_choice(client, admin_user, site_a):
    a_patient(site_a, "01-001", cycles=1)
    client.force_login(admin_user)
    page = _text(client.get(reverse("oversight:dashboard")))
    assert "Completion by site" in page and "Complétude" not in page


def test_the_work_lists_are_in_french(french, monitor, site_a):
    patient = a_patient(site_a, "01-001", cycles=2)
    french.force_login(monitor)
    page = _flat(_text(french.get(reverse("oversight:cycle_list"))))
    assert "Cures de traitement" in page and "2 cures" in page and "En attente de signature" in page
    assert "Vérification des données source" in page and "Non vérifié" in page
    first = TreatmentCycle.objects.get(patient=patient, number=1).start_date
    assert first.strftime("%d/%m/%Y") in page and first.isoformat() not in page
    casebooks = _flat(_text(french.get(reverse("oversight:casebook_list"))))
    assert "Cahiers d'observation" in casebooks and "1 cahier d'observation" in casebooks
    schedule = _flat(_text(french.get(reverse("oversight:schedule_list"))))
    assert "Cures à faire et en retard" in schedule and "Patients en cours d'étude" in schedule


def test_the_query_list_and_the_ae_queue_are_in_french(french, monitor):
    french.force_login(monitor)
    queries = _flat(_text(french.get(reverse("oversight:query_list"))))
    assert "Demandes de correction" in queries and "0 demande de correction" in queries
    queue = _text(french.get(reverse("oversight:ae_queue")))
    assert "Événements indésirables graves : file de revue" in queue and "En attente de revue médicale" in queue


# --- The audit trail: the screen translated, the stored and exported values neutral ------------

def _csv(response):
    text = b"".join(response.streaming_content).decode("utf-8")
    return list(csv.DictReader(io.StringIO(text)))


def test_the_audit_trail_screen_is_in_french_and_its_csv_in_english(french, monitor, clinician, site_a):
    patient = record_save(instance=PatientFactory.build(site=site_a, subject_id="01-001"), user=clinician)
    patient.consent_date = date(2025, 3, 2)
    record_save(instance=patient, reason="Date erronée", user=clinician)
    french.force_login(monitor)
    response = french.get(reverse("oversight:audit_trail"), {"patient": "01-001"})
    page = _flat(_text(response))
    assert "Piste d'audit" in page and "Type d'enregistrement" in page and "Toute action" in page
    assert "2 entrées" in page and "modification" in page and "création" in page
    assert "Date erronée" in page  # the reason: stored text, shown as data
    assert FRENCH_DATE.search(page) and not ISO_DATE.search(page.split('id="audit-trail"')[1].split("</thead>")[0])

    # The filter accepts a French date.
    today = date.today()
    filtered = french.get(reverse("oversight:audit_trail"),
                          {"patient": "01-001", "date_from": (today - timedelta(days=1)).strftime("%d/%m/%Y")})
    assert filtered.status_code == 200 and len(filtered.context["entries"]) == 2

    rows = _csv(french.get(reverse("oversight:audit_export"), {"patient": "01-001"}))
    assert list(rows[0]) == ["when", "user", "patient", "record type", "record", "action", "field", "old",
                             "new", "reason"]
    assert {row["action"] for row in rows} == {"create", "change"}
    assert all(re.match(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}", row["when"]) for row in rows)
    (change,) = [row for row in rows if row["action"] == "change"]
    assert (change["record type"], change["new"], change["reason"]) == ("Patient", "2025-03-02", "Date erronée")
    assert not any(FRENCH_DATE.search(value) for row in rows for value in row.values())
    # The export's own access event: codes, not words.
    event = AccessEvent.objects.get(kind=AccessKind.AUDIT_EXPORT)
    assert event.detail == {"filters": {"patient": "01-001"}}


def test_the_ae_listing_csv_stays_in_english(french, monitor, site_a):
    from safety import services as safety_services
    from safety.models import AdverseEvent

    patient = a_patient(site_a, "01-001", cycles=1)
    safety_services.adverse_event_save(event=AdverseEvent(
        patient=patient, term="Headache", onset_date=patient.enrolment_date + timedelta(days=8), grade=2,
        relatedness="possible", action_taken="none", outcome="recovering"))
    french.force_login(monitor)
    assert "Liste des événements indésirables" in _text(french.get(reverse("oversight:ae_listing")))
    response = french.get(reverse("oversight:ae_listing_export"))
    (row,) = _csv(response)
    assert row["serious"] == "no" and ISO_DATE.fullmatch(row["onset_date"])
    with translation.override("en"):
        assert row["relatedness"] == AdverseEvent(relatedness="possible").get_relatedness_display()


def test_what_a_french_session_stores_is_in_english(french, monitor, investigator, site_a):
    patient = a_patient(site_a, "01-001", cycles=1)
    cycle = TreatmentCycle.objects.get(patient=patient, number=1)
    # A data query raised in French stores its record's and field's labels in English.
    french.force_login(monitor)
    raise_url = reverse("oversight:query_create") + f"?patient={patient.pk}&cycle=1"
    form = _text(french.get(raise_url))
    assert "Visite de la cure 1" in form  # the choices: the user's language
    response = french.post(raise_url, {"target": f"treatmentcycle:{cycle.pk}:weight_kg",
                                       "question": "Poids du J1 ?"})
    assert response.status_code == 302
    query = DataQuery.objects.get()
    assert query.record_label == "Cycle 1 visit"
    with translation.override("en"):
        assert query.field_label == capfirst(str(TreatmentCycle._meta.get_field("weight_kg").verbose_name))
    # A failed signing attempt in French: its access event names the record in English.
    french.force_login(investigator)
    page = french.post(reverse("oversight:cycle_sign", args=[cycle.pk]), {"password": "wrong"})
    assert page.status_code == 200 and "Signer la cure 1 de 01-001" in _text(page)
    event = AccessEvent.objects.get(kind=AccessKind.SIGN_FAILED)
    assert event.detail == {"record": "cycle 1 of 01-001"}


# --- The calendar feed ---------------------------------------------------------------------------

def test_the_calendar_feed_speaks_the_language_it_was_created_in():
    row = {"pk": 7, "subject_id": "01-001", "last_number": 1, "next_cycle_planned_date": date(2025, 4, 3),
           "next_cycle_window_start_date": date(2025, 3, 31), "next_cycle_window_end_date": date(2025, 4, 7)}
    with translation.override("fr"):
        french = Calendar.from_ical(calendar_ics([row], name="x"))
    (event,) = french.walk("VEVENT")
    assert str(event["SUMMARY"]) == "01-001 : cure d'IgIV 2 prévue"
    assert "fenêtre du 31/03/2025 au 07/04/2025" in str(event["DESCRIPTION"])
    with translation.override("en"):
        (english,) = Calendar.from_ical(calendar_ics([row], name="x")).walk("VEVENT")
    assert "window 2025-03-31 to 2025-04-07" in str(english["DESCRIPTION"])


# --- The PDF casebook: the requester's language ---------------------------------------------------

def _made_pdf(user):
    run_pending()
    job_file = JobFile.objects.filter(owner=user, kind=casebook_jobs.CASEBOOK_KIND).latest("created_at")
    assert job_file.status == JobFileStatus.DONE, job_file.error
    content = default_storage.open(job_file.storage_name).read()
    pages = [page.extract_text() for page in PdfReader(io.BytesIO(content)).pages]
    return job_file, pages


def test_a_french_user_s_pdf_casebook_is_in_french(french, clinician, site_a):
    patient = a_patient(site_a, "01-001", cycles=2)
    french.force_login(clinician)
    start = reverse("oversight:casebook_pdf", args=[patient.pk])
    listing = _text(french.get(start))
    assert "Produire un PDF de ce cahier" in listing
    assert french.post(start).status_code == 302
    job_file, pages = _made_pdf(clinician)
    assert job_file.params["language"] == "fr"
    assert job_file.label == "Casebook of 01-001 (PDF)"  # stored: the source language
    cover, whole = _flat(pages[0]), _flat(" ".join(pages))
    assert "Cahier d'observation du patient 01-001" in cover and "Généré par" in cover
    assert "Non verrouillé" in cover and "2 cures" in cover
    assert "Signatures électroniques" in whole and "Demandes de correction" in whole
    assert "Historique des modifications" in whole
    assert f"Page 1 sur {len(pages)}" in _flat(pages[0])
    assert "Casebook of subject" not in whole and "Electronic signatures" not in whole
    header = re.search(r"généré le (\S+)", cover)
    assert header and FRENCH_DATE.fullmatch(header.group(1)), cover[:300]
    made = AccessEvent.objects.get(kind=AccessKind.CASEBOOK_PDF)
    assert made.detail["language"] == "fr"  # a code in the trail


def test_an_english_user_s_pdf_casebook_is_in_english(client, clinician, site_a):
    patient = a_patient(site_a, "01-001", cycles=2)
    client.force_login(clinician)
    assert client.post(reverse("oversight:casebook_pdf", args=[patient.pk])).status_code == 302
    job_file, pages = _made_pdf(clinician)
    assert job_file.params["language"] == "en"
    cover, whole = _flat(pages[0]), _flat(" ".join(pages))
    assert "Casebook of subject 01-001" in cover and "Electronic signatures" in whole
    assert f"Page 1 of {len(pages)}" in cover
    assert "Cahier d'observation" not in whole
    header = re.search(r"generated (\S+)", cover)
    assert header and ISO_DATE.fullmatch(header.group(1))


def test_without_a_request_language_the_pdf_follows_the_user_s_stored_choice(clinician, site_a):
    patient = a_patient(site_a, "01-001", cycles=1)
    choose(clinician, "fr")
    job_file = casebook_jobs.casebook_pdf_start(user=clinician, patient=patient)
    assert job_file.params["language"] == "fr"
    _, pages = _made_pdf(clinician)
    assert "Cahier d'observation du patient 01-001" in _flat(pages[0])
