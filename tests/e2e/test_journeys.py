"""The five journeys of the trial's users, in a real browser (see conftest.py).

Each journey starts from its own data (the live server's database is emptied
between tests), drives the pages by their labels and roles as a user would,
saves a full-page screenshot of its last page to
``test-artifacts/e2e/<journey>.png``, and fails on any CSP violation, JS error
or HTTP error the browser saw.
"""

import io
import re
import zipfile
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from xml.etree import ElementTree

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from core.services import record_save
from patients.models import Patient
from reporting.models import ExportLog
from tests.patients.factories import DiagnosisFactory, PatientFactory
from tests.visits.factories import full_cycle
from visits.models import Infusion, ProtocolDeviation

# live_server needs a transactional database; serialized_rollback brings back the
# role groups (made by data migrations) that each test's flush removes.
pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True),
              pytest.mark.usefixtures("restore_migrated_data")]


def iso(days_ago):
    return (timezone.localdate() - timedelta(days=days_ago)).isoformat()


def finish(journey, last, *sessions):
    """Screenshot the journey's last page, then fail on anything the browser reported."""
    last.screenshot(journey)
    for session in (last, *sessions):
        session.assert_clean()


def open_timeline(page, subject_id):
    """Patients list -> the patient -> the treatment timeline."""
    page.get_by_role("navigation").get_by_role("link", name="Patients", exact=True).click()
    page.get_by_role("link", name=subject_id, exact=True).first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Patient {subject_id}")
    page.get_by_role("link", name="Treatment timeline").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Timeline of {subject_id}")


def fill_infusion(page, day, *, date, dose_g, lot):
    box = page.locator(f"fieldset[data-day='{day}']")
    box.get_by_label("Infusion date").fill(date)
    box.get_by_label("Product").fill("Polyvalent IVIG 10 %")
    box.get_by_label("Concentration (%)").fill("10")
    box.get_by_label("Lot number").fill(lot)
    box.get_by_label("Volume (mL)", exact=True).fill(str(dose_g * 10))
    box.get_by_label("Dose given (g)").fill(str(dose_g))
    box.get_by_label("Maximum rate (mL/h)", exact=True).fill("150")
    return box


@pytest.mark.req("URS-PRT-001", "URS-PRT-004")
def test_clinician_enrols_records_an_underdose_and_corrects_it(open_as, clinician):
    me = open_as(clinician)
    page = me.page

    # Enrol a patient.
    page.get_by_role("navigation").get_by_role("link", name="Enrol a patient").click()
    page.get_by_label("Subject id").fill("01-001")
    page.get_by_label("Site").select_option(label="01 Site A")
    page.get_by_label("Sex").select_option(label="Female")
    page.get_by_label("Year of birth").fill("1968")
    page.get_by_label("Date of informed consent").fill(iso(20))
    page.get_by_label("Enrolment date").fill(iso(14))
    page.get_by_label("Myopathy symptom onset").fill(iso(200))
    page.get_by_label("Active, recent inflammatory myopathy").check()
    page.get_by_label("Status").select_option(label="On study")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("alert").filter(has_text="Patient enrolled.")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Patient 01-001")

    # Record cycle 1: 70 kg, so 70 g a day is prescribed; day 2 gets 35 g.
    page.get_by_role("link", name="Treatment timeline").click()
    page.get_by_role("link", name="Record cycle").click()
    page.get_by_label("Start date (day 1)").fill(iso(7))
    page.get_by_label("Weight (kg)").fill("70")
    page.get_by_label("Dosing basis").select_option("actual")
    expect(page.locator("#prescribed-daily")).to_have_text("70.0")  # static/js/cycle_form.js ran
    page.get_by_label("Assessment date").fill(iso(7))
    page.get_by_label("Muscle testing scale").select_option("kendall")
    for muscle in ("Neck flexors", "Deltoid (middle)", "Biceps", "Wrist extensors", "Gluteus maximus",
                   "Gluteus medius", "Quadriceps", "Ankle dorsiflexors"):
        page.get_by_label(muscle, exact=True).fill("7")
    expect(page.locator("#mmt-total")).to_have_text("56")
    page.get_by_label("CK (U/L)", exact=True).fill("2400")
    page.get_by_label("CK upper limit (U/L)", exact=True).fill("200")
    fill_infusion(page, 1, date=iso(7), dose_g=70, lot="LOT-A1")
    day2 = fill_infusion(page, 2, date=iso(6), dose_g=35, lot="LOT-A1")
    expect(day2.locator(".dose-check")).to_contain_text("Under-dose")  # flagged while typing
    page.get_by_role("button", name="Save cycle").click()

    # The deviation is shown, never silently accepted.
    expect(page.get_by_role("alert").filter(has_text="protocol deviation")).to_contain_text("Cycle 1 saved with 1")
    row = page.locator("#timeline tr#cycle-1")
    expect(row).to_contain_text("Under-dose (day 2)")
    expect(row).to_contain_text("Day 2")
    assert ProtocolDeviation.objects.open().filter(kind="underdose").count() == 1

    # Correct day 2 (the dose was mis-transcribed) with a reason for change.
    row.get_by_role("link", name="open").click()
    expect(page.locator("#cycle-deviations")).to_contain_text("Under-dose")
    day2 = page.locator("fieldset[data-day='2']")
    day2.get_by_label("Volume (mL)", exact=True).fill("700")
    day2.get_by_label("Dose given (g)").fill("70")
    expect(day2.locator(".dose-check")).to_contain_text("within")
    page.get_by_role("button", name="Save cycle").click()
    expect(page.locator("#error_change_reason")).to_contain_text("reason")  # refused without a reason
    page.get_by_label("Reason for change").fill("Transcription error: 70 g given on day 2 per the infusion chart")
    page.get_by_role("button", name="Save cycle").click()
    expect(page.get_by_role("alert").filter(has_text="Cycle 1 saved")).to_contain_text("no protocol deviation")
    expect(page.locator("#timeline tr#cycle-1")).to_contain_text("total 140.0 / 140.0 g")
    assert ProtocolDeviation.objects.open().filter(kind="underdose").count() == 0

    # The deviation stays on record, struck through as resolved; the change kept its reason.
    expect(page.locator("#timeline tr#cycle-1 .text-decoration-line-through")).to_contain_text("Under-dose")
    day2_history = Infusion.history.filter(cycle__patient__subject_id="01-001", day=2).order_by("history_date")
    assert [h.history_change_reason for h in day2_history][-1].startswith("Transcription error")
    finish("clinician", me)


@pytest.mark.req("URS-AUT-002", "URS-SIG-001")
def test_investigator_signs_the_cycle(open_as, investigator, site_a):
    patient = PatientFactory(site=site_a, subject_id="01-002")
    full_cycle(patient)
    me = open_as(investigator)
    page = me.page

    open_timeline(page, "01-002")
    row = page.locator("#timeline tr#cycle-1")
    expect(row.locator(".signature")).to_contain_text("not signed")
    row.get_by_role("link", name="sign").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Sign cycle 1 of 01-002")

    # A wrong password signs nothing.
    page.get_by_label("Password").fill("not my password")
    page.get_by_role("button", name="Sign").click()
    expect(page.locator("#id_password")).to_have_class(re.compile(r"is-invalid"))

    page.get_by_label("Password").fill(me.password)
    page.get_by_role("button", name="Sign").click()
    expect(page.get_by_role("alert").filter(has_text="Signed cycle 1 of 01-002")).to_be_visible()
    expect(page.locator("#timeline tr#cycle-1 .signature")).to_contain_text("Signed by")
    finish("investigator", me)


@pytest.mark.req("URS-CPY-001", "URS-PRT-017")
def test_coordinator_reads_the_report_and_downloads_exports(open_as, coordinator, site_a):
    for subject in ("01-003", "01-004"):
        patient = PatientFactory(site=site_a, subject_id=subject)
        DiagnosisFactory(patient=patient)
        full_cycle(patient)
    me = open_as(coordinator)
    page = me.page

    page.get_by_role("navigation").get_by_role("link", name="Exports").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Cohort exports")

    with page.expect_download() as csv_download:
        page.get_by_role("link", name="CSV tables + data dictionary (zip)").click()
    csv_zip = csv_download.value
    assert csv_zip.suggested_filename.endswith(".zip")
    data = Path(csv_zip.path()).read_bytes()
    assert data, "the CSV export is empty"
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        assert names and any(name.endswith(".csv") for name in names), names
        assert all(archive.read(name) for name in names)

    with page.expect_download() as odm_download:
        page.get_by_role("link", name="CDISC ODM 1.3.2 (XML)").click()
    odm = odm_download.value
    assert odm.suggested_filename.endswith(".xml")
    data = Path(odm.path()).read_bytes()
    assert data, "the ODM export is empty"
    root = ElementTree.fromstring(data)
    assert root.tag.endswith("ODM"), root.tag
    assert b"01-003" in data and b"01-004" in data

    # Every download is logged.
    assert ExportLog.objects.filter(user=coordinator).count() == 2

    # The outcome report, last (its page is the journey's screenshot).
    page.get_by_role("navigation").get_by_role("link", name="Report").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Outcome report")
    expect(page.locator("#n-patients")).to_have_text("2")
    for section in ("Baseline", "Exposure", "Safety", "Outcomes", "Plots"):
        expect(page.get_by_role("heading", name=section, exact=True)).to_be_visible()
    finish("coordinator", me)


@pytest.mark.req("URS-OPS-002")
def test_monitor_raises_a_query_the_clinician_answers_and_the_monitor_closes_it(
        open_as, monitor, clinician, site_a):
    patient = PatientFactory(site=site_a, subject_id="01-005")
    full_cycle(patient)
    mon = open_as(monitor)
    page = mon.page

    open_timeline(page, "01-005")
    page.locator("#timeline tr#cycle-1").get_by_role("link", name="query").click()
    page.get_by_label("Record and field").select_option(label="Cycle 1 visit: Weight (kg)")
    page.get_by_label("Question").fill("Weight 70.0 kg: please confirm against the source (scale record).")
    page.get_by_role("button", name="Raise query").click()
    expect(page.locator("#query-status")).to_have_text("Open")
    query_url = page.url

    site = open_as(clinician)
    site.page.get_by_role("navigation").get_by_role("link", name="Queries").click()
    site.page.get_by_role("link", name="Cycle 1 visit").click()
    expect(site.page.locator("#query-thread")).to_contain_text("please confirm against the source")
    site.page.get_by_label("Message").fill("Confirmed: 70.0 kg on the ward scale on the day of infusion.")
    site.page.get_by_role("button", name="Answer").click()
    expect(site.page.locator("#query-status")).to_have_text("Answered")

    page.goto(query_url)
    expect(page.locator("#query-thread")).to_contain_text("Confirmed: 70.0 kg")
    page.get_by_label("Message").fill("Thank you, resolved.")
    page.get_by_role("button", name="Close").click()
    expect(page.get_by_role("alert").filter(has_text="Query closed.")).to_be_visible()
    expect(page.locator("#query-status")).to_have_text("Closed")
    finish("monitor", mon, site)


@pytest.mark.req("URS-PRO-003", "URS-AUD-002")
def test_admin_finds_the_change_in_the_audit_trail_and_locks_the_casebook(
        open_as, admin_user, clinician, site_a):
    patient = PatientFactory(site=site_a, subject_id="01-006")
    cycle = full_cycle(patient)
    cycle.weight_kg = Decimal("72.5")
    record_save(instance=cycle, reason="Weight re-measured on a calibrated scale", user=clinician)
    me = open_as(admin_user)
    page = me.page

    page.get_by_role("navigation").get_by_role("link", name="Audit trail").click()
    page.get_by_label("Patient").fill("01-006")
    page.get_by_role("button", name="Filter").click()
    change = page.locator("#audit-trail tbody tr").filter(has_text="Weight re-measured on a calibrated scale")
    expect(change).to_have_count(1)
    expect(change).to_contain_text(clinician.username)
    expect(change).to_contain_text("72.5")

    change.get_by_role("link", name="01-006").click()
    page.get_by_role("link", name="Treatment timeline").click()
    expect(page.locator("#timeline tr#cycle-1").get_by_role("link", name="open")).to_have_count(1)
    page.get_by_role("link", name="Lock casebook").click()
    page.get_by_label("Reason").fill("Database lock for the interim analysis")
    page.get_by_role("button", name="Lock").click()
    expect(page.get_by_role("alert").filter(has_text="Locked the casebook of 01-006")).to_be_visible()
    expect(page.locator("#casebook-lock")).to_contain_text("Locked")
    # Locked: the cycle can no longer be opened for editing.
    expect(page.locator("#timeline tr#cycle-1").get_by_role("link", name="open")).to_have_count(0)
    assert Patient.objects.get(pk=patient.pk).locked_at is not None
    finish("admin", me)

