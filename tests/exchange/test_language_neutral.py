"""Exports stay language-neutral (issue 16): the same data entered through the forms in
French ("72,5", dd/mm/yyyy) and in English ("72.5", ISO) gives byte-identical CSV, XLSX,
SDTM, ODM and FHIR files (apart from database ids), and an export requested by a French
user, streamed or as a background job, is byte-identical to one requested by an English
user. The exports page itself is translated."""

import io
import re
import zipfile
from datetime import date, datetime, timezone as dt_timezone

import pytest
from django.core.files.storage import default_storage
from django.db import transaction
from django.urls import reverse
from django.utils import translation

from accounts.languages import choose
from exchange import datasets
from exchange.exports import FORMATS
from exchange.services import export_job_start
from jobs.models import JobFile, JobFileStatus
from jobs.worker import run_pending
from tests.conftest import _user_with_role
from tests.patients.factories import PatientFactory
from tests.visits.test_views import cycle_post
from visits.models import Infusion, TreatmentCycle

pytestmark = pytest.mark.django_db

FIXED_NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=dt_timezone.utc)
#: XLSX members that carry the time the workbook was written.
TIMESTAMPED_MEMBERS = {"docProps/core.xml"}


def _members(data):
    """A file's content: its zip members without their dates (the time each was written),
    or the bytes themselves."""
    if not data.startswith(b"PK"):
        return {"": data}
    archive = zipfile.ZipFile(io.BytesIO(data))
    return {name: archive.read(name) for name in archive.namelist() if name not in TIMESTAMPED_MEMBERS}


def _download(client, format_name, **headers):
    response = client.get(reverse("exchange:export_download"), {"format": format_name}, **headers)
    assert response.status_code == 200
    return b"".join(response.streaming_content)


def _french(text):
    with translation.override("fr"):
        return str(text)


def _english(text):
    with translation.override("en"):
        return str(text)


@pytest.fixture
def frozen(monkeypatch):
    monkeypatch.setattr("django.utils.timezone.now", lambda: FIXED_NOW)


# --- Who asks: a French user and an English user get the same bytes -----------------------------

@pytest.fixture
def cohort(site_a, clinician):
    """One patient with a cycle entered through the form (English), an AE-free cohort."""
    patient = PatientFactory(site=site_a, subject_id="01-001", sex="M")
    client_post = _client_for(clinician)
    response = client_post.post(reverse("visits:cycle_create", args=[patient.pk]), cycle_post(weight="72.5"))
    assert response.status_code == 302, response.content.decode()[:2000]
    return patient


def _client_for(user):
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize("format_name", sorted(FORMATS))
@pytest.mark.req("URS-CPY-008")
def test_a_french_users_export_is_byte_identical_to_an_english_users(format_name, cohort, site_a, frozen):
    english, french = (_user_with_role("coordinator", None, username=name) for name in ("coord-en", "coord-fr"))
    choose(english, "en")
    choose(french, "fr")
    assert _french(FORMATS[format_name].label) != _english(FORMATS[format_name].label) or format_name == "odm"
    from_english = _download(_client_for(english), format_name)
    french_client = _client_for(french)
    # The French user's pages are in French...
    page = french_client.get(reverse("exchange:exports"))
    assert "Exports de la cohorte" in page.content.decode()
    # ...their file is not: the same bytes, streamed and as a background job.
    from_french = _download(french_client, format_name, HTTP_ACCEPT_LANGUAGE="fr")
    assert _members(from_french) == _members(from_english)  # (zip members: their dates aside)
    with translation.override("fr"):  # a worker whose language is French, by accident
        job_file = export_job_start(user=french, format_name=format_name)
        assert run_pending(queue_names=("exports",)) == 1
    job_file.refresh_from_db()
    assert job_file.status == JobFileStatus.DONE, job_file.error
    assert _members(default_storage.open(job_file.storage_name).read()) == _members(from_english)
    # The job's stored label is in the source language; shown in the reader's.
    assert job_file.label == _english(FORMATS[format_name].label)
    with translation.override("fr"):
        assert job_file.display_label == _french(FORMATS[format_name].label)


def test_the_data_dictionary_is_in_the_source_language_under_french(cohort):
    from exchange.exports import tabular

    with translation.override("fr"):
        files = _members(b"".join(tabular.csv_zip(datasets.cohort())))
    dictionary = files["data_dictionary.csv"].decode()
    assert dictionary.splitlines()[0] == ",".join(datasets.DICTIONARY_COLUMNS)
    assert "Study subject id" in dictionary and "Weight" in dictionary
    assert "F=Female; M=Male" in dictionary


# --- What is entered: "72,5" and dd/mm/yyyy in French, "72.5" and ISO in English ---------------

def _french_cycle_post(start):
    """The English form's data as a French user types it: dd/mm/yyyy and decimal commas."""
    data = cycle_post(start=start, weight="72.5", day1_dose="72.5", day2_dose="72.5")
    out = {}
    for name, value in data.items():
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            value = date.fromisoformat(value).strftime("%d/%m/%Y")
        elif re.fullmatch(r"\d+\.\d+", value):
            value = value.replace(".", ",")
        out[name] = value
    return out


def _enter_and_export(site, user, exporter, data, **headers):
    """In a savepoint that is rolled back: enrol the patient, enter the cycle through the form,
    export every format. Returns what was stored, {format: content} and the records' ids."""
    with transaction.atomic():
        patient = PatientFactory(site=site, subject_id="01-001", sex="M")
        client = _client_for(user)
        response = client.post(reverse("visits:cycle_create", args=[patient.pk]), data, **headers)
        assert response.status_code == 302, response.content.decode()[:3000]
        cycle = TreatmentCycle.objects.get(patient=patient)
        stored = (str(cycle.weight_kg), cycle.start_date, sorted(Infusion.objects.filter(cycle=cycle)
                                                                 .values_list("dose_g", "infusion_date")))
        exporting = _client_for(exporter)
        exports = {name: _members(_download(exporting, name, **headers)) for name in sorted(FORMATS)}
        ids = {"patient": patient.pk, "cycle": cycle.pk}
        transaction.set_rollback(True)
    return stored, exports, ids


def _without_ids(content, ids):
    """ODM names each record's audit source by its database id: the only difference allowed."""
    text = content.decode("utf-8", "replace")
    return re.sub(r"(\w+\.\w+) \d+ version", r"\1 <id> version", text)


@pytest.mark.req("URS-CPY-008")
def test_the_same_data_entered_in_french_and_in_english_exports_the_same_bytes(site_a, clinician, coordinator,
                                                                              frozen):
    """The same people (the audit trail names who entered the data), first in English, then
    having chosen French."""
    start = "2025-03-17"
    english_stored, english, english_ids = _enter_and_export(site_a, clinician, coordinator, cycle_post(
        start=start, weight="72.5", day1_dose="72.5", day2_dose="72.5"))
    choose(clinician, "fr")
    choose(coordinator, "fr")
    french_data = _french_cycle_post(start)
    assert french_data["cycle-weight_kg"] == "72,5" and french_data["cycle-start_date"] == "17/03/2025"
    french_stored, french, french_ids = _enter_and_export(site_a, clinician, coordinator, french_data,
                                                          HTTP_ACCEPT_LANGUAGE="fr")
    assert french_stored == english_stored and english_stored[0] == "72.5"
    for name in sorted(FORMATS):
        assert set(french[name]) == set(english[name]), name
        for member in english[name]:
            assert (_without_ids(french[name][member], french_ids)
                    == _without_ids(english[name][member], english_ids)), f"{name}: {member}"
    # ISO dates and dot decimals in the files, never the French forms.
    cycles_csv = english["csv"]["cycles.csv"].decode()
    assert "2025-03-17" in cycles_csv and "72.5" in cycles_csv
    assert "17/03/2025" not in cycles_csv and "72,5" not in cycles_csv


# --- The exports page speaks the user's language -------------------------------------------------

def test_the_exports_page_is_in_french_for_a_french_user(coordinator, frozen):
    choose(coordinator, "fr")
    client = _client_for(coordinator)
    export_job_start(user=coordinator, format_name="csv", site="01")
    html = client.get(reverse("exchange:exports")).content.decode()
    assert "Exports de la cohorte" in html and "Télécharger maintenant" in html
    assert "Tables CSV + dictionnaire des données (zip)" in html
    assert "Tables CSV + dictionnaire des données (zip) · centre 01" in html  # the job's label, shown
    assert "lancé le 04/03/2026 05:06" in html or "lancé le 04/03/2026 06:06" in html  # dd/mm/yyyy
    state = client.get(reverse("jobs:file_status", args=[JobFile.objects.get().pk])).json()
    assert state["status_display"] == "En attente" and state["unit_display"] == "lignes"
    assert JobFile.objects.get().label == "CSV tables + data dictionary (zip) · site 01"  # stored: neutral
