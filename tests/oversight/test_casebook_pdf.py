"""Issue 15, part 6: PDF casebooks (WeasyPrint) read back with pypdf; made as a job with
its SHA-256 in the audit trail; scoped like the casebook page; the admins' close-out
archive; a constant number of queries whatever the number of cycles."""

import csv
import hashlib
import io
import os
import re
import zipfile
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from pypdf import PdfReader

from core.crf import display
from jobs import files
from jobs.models import JobFile, JobFileStatus
from jobs.worker import run_pending
from oversight import casebook_jobs
from oversight.casebook_pdf import (STATIC_BASE_URL, LocalStaticFetcher, casebook_pdf_render,
                                    patient_for_pdf)
from oversight.models import AccessEvent, AccessKind
from review import services as review_services
from safety import services as safety_services
from safety.models import AdverseEvent
from tests.patients.factories import DiagnosisFactory, MalignancyFactory, PatientFactory
from tests.visits.factories import AssessmentFactory, CycleFactory, InfusionFactory
from visits.models import Infusion, TreatmentCycle

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery"
#: Distinct values per cycle, so each cycle's CK and doses can be found in the text.
CK_BY_CYCLE = [Decimal("2417"), Decimal("1388"), Decimal("733"), Decimal("412"), Decimal("305"), Decimal("251")]
WEIGHT_BY_CYCLE = [Decimal("70.0"), Decimal("71.5"), Decimal("72.5"), Decimal("73.5"), Decimal("74.5"),
                   Decimal("75.5")]


def add_cycles(patient, count):
    for index in range(count):
        cycle = CycleFactory(patient=patient, number=index + 1, weight_kg=WEIGHT_BY_CYCLE[index])
        AssessmentFactory(cycle=cycle, patient=patient, ck_u_per_l=CK_BY_CYCLE[index])
        InfusionFactory(cycle=cycle, day=1)
        InfusionFactory(cycle=cycle, day=2, dose_g=WEIGHT_BY_CYCLE[index] - Decimal("2"))


def a_patient(site, subject_id, cycles=3):
    patient = PatientFactory(site=site, subject_id=subject_id)
    DiagnosisFactory(patient=patient)
    MalignancyFactory(patient=patient)
    add_cycles(patient, cycles)
    return patient


def request_of(user):
    request = RequestFactory().post("/")
    request.user = user
    return request


@pytest.fixture
def patient(site_a):
    return a_patient(site_a, "01-001", cycles=3)


@pytest.fixture
def reviewed(patient, investigator, monitor, clinician):
    """The patient with a signed cycle and casebook, an SDV, an answered query and an AE."""
    event = safety_services.adverse_event_save(event=AdverseEvent(
        patient=patient, term="Headache", onset_date=patient.enrolment_date + timedelta(days=8), grade=2,
        relatedness="possible", action_taken="none", outcome="recovering"))
    safety_services.adverse_event_follow_up(adverse_event=event, user=clinician,
                                            follow_up_date=event.onset_date + timedelta(days=2),
                                            note="Settling with paracetamol.", outcome="recovering")
    cycle = TreatmentCycle.objects.get(patient=patient, number=1)
    review_services.record_verify(record=cycle, user=monitor)
    query = review_services.query_raise(record=cycle, field_name="weight_kg", field_label="Weight",
                                        record_label="Cycle 1", question="Is the weight from the day-1 scale?",
                                        user=monitor, cycle_number=1)
    review_services.query_answer(query=query, user=clinician, text="Yes, weighed on the ward scale.")
    request = request_of(investigator)
    cycle_signature = review_services.record_sign(record=cycle, user=investigator, password=PASSWORD,
                                                  request=request)
    casebook_signature = review_services.record_sign(record=patient, user=investigator, password=PASSWORD,
                                                     request=request)
    return {"cycle_signature": cycle_signature, "casebook_signature": casebook_signature, "event": event}


def pdf_text(content):
    reader = PdfReader(io.BytesIO(content))
    return reader, [page.extract_text() for page in reader.pages]


def flat(text):
    return re.sub(r"\s+", " ", text)


# --- The document ------------------------------------------------------------------------

@pytest.mark.req("URS-CPY-007", "URS-SIG-001")
def test_the_pdf_holds_every_cycle_the_signatures_hashes_and_page_numbers(patient, reviewed, investigator):
    pdf = casebook_pdf_render(patient_for_pdf(patient.pk), generated_by=investigator)
    if os.environ.get("CASEBOOK_PDF_KEEP"):  # to look at the pages: pdftoppm -png this file
        with open(os.environ["CASEBOOK_PDF_KEEP"], "wb") as kept:
            kept.write(pdf.content)
    reader, pages = pdf_text(pdf.content)
    assert pdf.pages == len(reader.pages) > 1
    for number, text in enumerate(pages, start=1):
        assert "01-001" in text, f"page {number} has no subject id"
        assert f"Page {number} of {len(pages)}" in flat(text)
        assert "Site 01" in text and "generated" in text
    whole = flat(" ".join(pages))
    assert "Page 1 of" in flat(pages[0])
    for cycle in TreatmentCycle.objects.filter(patient=patient).select_related("assessment"):
        assert f"Cycle {cycle.number}" in whole
        assert display(cycle.assessment, "ck_u_per_l") in whole
    for infusion in Infusion.objects.filter(cycle__patient=patient):
        assert display(infusion, "dose_g") in whole
        assert display(infusion, "prescribed_dose_g") in whole  # a derived fact
    for signature in reviewed.values():
        if hasattr(signature, "data_hash"):
            assert signature.data_hash in whole.replace(" ", ""), "the signed data's hash is printed"
            assert signature.signer_name in whole
    assert "Reviewed and approved" in whole
    assert "Headache" in whole and "Settling with paracetamol." in whole  # the AE and its follow-up
    assert "Is the weight from the day-1 scale?" in whole and "Yes, weighed on the ward scale." in whole
    assert "Source data verified" in whole or "Source data verification" in whole
    assert "History of changes" in whole and "Non-Hodgkin lymphoma" in whole
    # The cover: study, subject, site, who and when, the signature and lock state.
    cover = flat(pages[0])
    assert "Casebook of subject 01-001" in cover and "Generated by" in cover
    assert "Signed by" in cover and "Not locked" in cover


def test_the_fetcher_serves_only_local_static_files():
    fetcher = LocalStaticFetcher()
    response = fetcher.fetch(STATIC_BASE_URL + "css/casebook_print.css")
    assert b"@bottom-right" in response.read()
    for url in ("https://assets.example.org/x.css", "http://127.0.0.1:8105/static/css/app.css",
                "file:///etc/passwd", STATIC_BASE_URL + "../settings.py", STATIC_BASE_URL + "css/nope.css"):
        with pytest.raises(ValueError):
            fetcher.fetch(url)


def _render_queries(patient_pk):
    patient = patient_for_pdf(patient_pk)
    with CaptureQueriesContext(connection) as queries:
        casebook_pdf_render(patient)
    return len(queries)


#: Queries of one casebook's PDF: the casebook's selectors and review state, the
#: signatures and the query threads. Pinned, whatever the number of cycles.
PDF_QUERIES = 25  # 21, then the missed cycles (issue 15), the medications (issue 17) and their change logs


def test_the_query_count_of_a_pdf_does_not_grow_with_the_cycles(site_a, monitor):
    small = a_patient(site_a, "01-010", cycles=2)
    large = a_patient(site_a, "01-011", cycles=6)
    for patient in (small, large):  # a query thread on each, so the thread queries run on both
        cycle = TreatmentCycle.objects.get(patient=patient, number=1)
        review_services.query_raise(record=cycle, field_name="", field_label="", record_label="Cycle 1",
                                    question="Check?", user=monitor, cycle_number=1)
    _render_queries(small.pk)  # content types cached
    assert _render_queries(small.pk) == _render_queries(large.pk) == PDF_QUERIES


# --- The job, the audit trail, the scoping --------------------------------------------------

def _latest_file(user, kind=casebook_jobs.CASEBOOK_KIND):
    return JobFile.objects.filter(owner=user, kind=kind).latest("created_at")


@pytest.mark.req("URS-CPY-007")
def test_the_casebook_page_starts_a_job_whose_file_and_hash_are_audited(client, clinician, patient, reviewed):
    client.force_login(clinician)
    page = client.get(reverse("casebook:casebook_detail", args=[patient.pk])).content.decode()
    start = reverse("oversight:casebook_pdf", args=[patient.pk])
    assert f'action="{start}"' in page  # the button on the casebook page
    response = client.post(start)
    assert response.status_code == 302 and response["Location"] == start
    job_file = _latest_file(clinician)
    assert job_file.status == JobFileStatus.QUEUED and job_file.site_id == patient.site_id
    assert run_pending() >= 1
    job_file.refresh_from_db()
    assert job_file.status == JobFileStatus.DONE, job_file.error
    stored = default_storage.open(job_file.storage_name).read()
    assert job_file.sha256 == hashlib.sha256(stored).hexdigest() and job_file.size == len(stored)
    assert job_file.filename == "casebook-01-001.pdf" and job_file.done == len(PdfReader(io.BytesIO(stored)).pages)
    made = AccessEvent.objects.get(kind=AccessKind.CASEBOOK_PDF)
    assert made.user == clinician and made.detail["sha256"] == job_file.sha256
    assert made.detail["patient"] == patient.pk and made.detail["bytes"] == len(stored)
    assert made.detail["pages"] == job_file.done > 1
    listing = client.get(start).content.decode()
    download = reverse("jobs:file_download", args=[job_file.pk])
    assert download in listing and job_file.sha256 in listing
    response = client.get(download)
    assert response.status_code == 200 and b"".join(response.streaming_content) == stored
    downloaded = AccessEvent.objects.get(kind=AccessKind.CASEBOOK_PDF_DOWNLOAD)
    assert downloaded.user == clinician and downloaded.detail["sha256"] == job_file.sha256
    assert job_file.expires_at - job_file.finished_at == timedelta(hours=24)


@pytest.mark.req("URS-SEC-003")
def test_another_sites_clinician_gets_a_404_to_start_and_to_download(client, clinician, clinician_b, patient):
    start = reverse("oversight:casebook_pdf", args=[patient.pk])
    client.force_login(clinician_b)
    assert client.post(start).status_code == 404
    assert client.get(start).status_code == 404
    assert not JobFile.objects.exists()
    job_file = casebook_jobs.casebook_pdf_start(user=clinician, patient=patient)
    run_pending()
    download = reverse("jobs:file_download", args=[job_file.pk])
    assert client.get(download).status_code == 404
    assert client.get(reverse("jobs:file_status", args=[job_file.pk])).status_code == 404
    client.force_login(clinician)
    assert client.get(download).status_code == 200


def test_the_owner_who_lost_the_site_can_no_longer_download(client, clinician, patient):
    job_file = casebook_jobs.casebook_pdf_start(user=clinician, patient=patient)
    run_pending()
    clinician.memberships.all().delete()
    client.force_login(clinician)
    assert client.get(reverse("jobs:file_download", args=[job_file.pk])).status_code == 404


def test_the_retention_is_a_setting(settings, clinician, patient):
    settings.CASEBOOK_PDF_RETENTION_HOURS = 3
    casebook_jobs.register_kinds()
    try:
        job_file = casebook_jobs.casebook_pdf_start(user=clinician, patient=patient)
        run_pending()
        job_file.refresh_from_db()
        assert job_file.expires_at - job_file.finished_at == timedelta(hours=3)
        assert files.expire(job_file.expires_at + timedelta(seconds=1)) == 1
    finally:
        settings.CASEBOOK_PDF_RETENTION_HOURS = 24
        casebook_jobs.register_kinds()


# --- The close-out archive ----------------------------------------------------------------

@pytest.mark.req("URS-BCP-002")
def test_the_closeout_archive_holds_one_pdf_per_patient_and_a_manifest(client, admin_user, coordinator, site_a,
                                                                      site_b):
    patients = [a_patient(site_a, "01-001", cycles=2), a_patient(site_a, "01-002", cycles=1),
                a_patient(site_b, "02-001", cycles=1)]
    page = reverse("oversight:closeout_archive")
    client.force_login(coordinator)
    assert client.post(page).status_code == 403
    client.force_login(admin_user)
    assert 'id="closeout"' in client.get(reverse("oversight:dashboard")).content.decode()
    assert client.post(page).status_code == 302
    job_file = _latest_file(admin_user, casebook_jobs.CLOSEOUT_KIND)
    assert (job_file.total, job_file.unit) == (3, "patients")
    run_pending()
    job_file.refresh_from_db()
    assert job_file.status == JobFileStatus.DONE, job_file.error
    assert (job_file.done, job_file.total) == (3, 3)
    stored = default_storage.open(job_file.storage_name).read()
    assert job_file.sha256 == hashlib.sha256(stored).hexdigest()
    with zipfile.ZipFile(io.BytesIO(stored)) as archive:
        names = archive.namelist()
        assert sorted(names) == sorted([f"casebook-{p.subject_id}.pdf" for p in patients] + ["manifest.csv"])
        manifest = list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode())))
        assert [row["subject_id"] for row in manifest] == ["01-001", "01-002", "02-001"]
        for row in manifest:
            content = archive.read(row["file_name"])
            assert row["sha256"] == hashlib.sha256(content).hexdigest()
            reader, pages = pdf_text(content)
            assert int(row["pages"]) == len(reader.pages) and int(row["bytes"]) == len(content)
            assert all(row["subject_id"] in text for text in pages)
    made = AccessEvent.objects.get(kind=AccessKind.CLOSEOUT_ARCHIVE)
    assert made.user == admin_user and made.detail["sha256"] == job_file.sha256 and made.detail["patients"] == 3
    assert job_file.sha256 in client.get(page).content.decode()
    response = client.get(reverse("jobs:file_download", args=[job_file.pk]))
    assert response.status_code == 200 and b"".join(response.streaming_content) == stored
    assert AccessEvent.objects.filter(kind=AccessKind.CLOSEOUT_DOWNLOAD, user=admin_user).count() == 1
    client.force_login(coordinator)
    assert client.get(reverse("jobs:file_download", args=[job_file.pk])).status_code == 404


@pytest.mark.req("URS-BCP-002")
def test_the_closeout_chunks_hand_out_each_pdf_as_it_is_written(site_a):
    patients = [a_patient(site_a, f"01-00{i}", cycles=1) for i in range(1, 4)]
    seen = []
    chunks = casebook_jobs.closeout_chunks(patients, lambda done, total: seen.append((done, total)))
    first = next(chunks)
    assert seen == [(1, 3)] and first.startswith(b"PK") and b"casebook-01-001.pdf" in first
    rest = b"".join(chunks)
    assert seen == [(1, 3), (2, 3), (3, 3)]
    with zipfile.ZipFile(io.BytesIO(first + rest)) as archive:
        assert archive.testzip() is None and len(archive.namelist()) == 4


# --- The command line ------------------------------------------------------------------------

@pytest.mark.req("URS-CPY-007")
def test_the_command_writes_a_patients_pdf(tmp_path, patient):
    output = tmp_path / "casebook.pdf"
    call_command("casebook_pdf", "--patient", "01-001", "--output", str(output), stdout=io.StringIO())
    reader, pages = pdf_text(output.read_bytes())
    assert len(reader.pages) > 1 and all("01-001" in text for text in pages)
