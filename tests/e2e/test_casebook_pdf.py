"""Issue 15, part 6, in a real browser: a clinician makes a PDF of a casebook from the
casebook page, sees it queued, and downloads it once a worker cycle has made it; an
admin starts the close-out archive from the dashboard."""

import pytest
from playwright.sync_api import expect

from jobs.worker import run_pending
from tests.e2e.test_journeys import finish
from tests.patients.factories import DiagnosisFactory, PatientFactory
from tests.visits.factories import full_cycle

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True),
              pytest.mark.usefixtures("restore_migrated_data")]


@pytest.mark.req("URS-CPY-007")
def test_clinician_makes_and_downloads_a_pdf_casebook(open_as, clinician, site_a):
    patient = PatientFactory(site=site_a, subject_id="01-021")
    DiagnosisFactory(patient=patient)
    full_cycle(patient)
    full_cycle(patient, number=2)
    me = open_as(clinician)
    page = me.page
    page.goto(f"/patients/{patient.pk}/casebook/")
    page.get_by_role("button", name="Make a PDF").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("PDF casebooks of 01-021")
    expect(page.locator("#casebook-pdf-files")).to_contain_text("Queued")
    me.screenshots("casebook-pdf-queued")
    assert run_pending() >= 1  # one worker cycle
    page.reload()
    link = page.locator("#casebook-pdf-files").get_by_role("link", name="casebook-01-021.pdf")
    with page.expect_download() as download:
        link.click()
    assert download.value.suggested_filename == "casebook-01-021.pdf"
    with open(download.value.path(), "rb") as handle:
        assert handle.read(5) == b"%PDF-"
    finish("clinician-casebook-pdf", me)


@pytest.mark.req("URS-BCP-002")
def test_admin_starts_the_closeout_archive(open_as, admin_user, site_a):
    PatientFactory(site=site_a, subject_id="01-022")
    me = open_as(admin_user)
    page = me.page
    page.goto("/oversight/")
    page.locator("#closeout").get_by_role("link", name="Close-out archive").click()
    page.get_by_role("button", name="Make the close-out archive").click()
    expect(page.locator("#closeout-files")).to_contain_text("Queued")
    run_pending()
    page.reload()
    expect(page.locator("#closeout-files")).to_contain_text("Ready")
    me.screenshots("closeout-archive")
    finish("admin-closeout", me)
