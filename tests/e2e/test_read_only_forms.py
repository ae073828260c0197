"""Issue 14, item 1: the read-only case report forms in a real browser: a monitor opens a
locked cycle from the timeline and reads its values; an investigator sees the values on
the sign page before typing the password; a clinician reads the casebook and its history."""

import pytest
from playwright.sync_api import expect

from core.services import record_save
from oversight import services as oversight_services
from tests.e2e.test_journeys import finish, open_timeline
from tests.patients.factories import DiagnosisFactory, PatientFactory
from tests.visits.factories import full_cycle

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True),
              pytest.mark.usefixtures("restore_migrated_data")]


@pytest.mark.req("URS-CPY-006")
def test_monitor_reads_a_locked_cycle(open_as, monitor, admin_user, site_a):
    patient = PatientFactory(site=site_a, subject_id="01-011")
    cycle = full_cycle(patient)
    oversight_services.record_lock(record=cycle, user=admin_user, reason="Interim analysis")
    me = open_as(monitor)
    page = me.page
    open_timeline(page, "01-011")
    page.locator("#timeline tr#cycle-1").get_by_role("link", name="view").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Cycle 1 of 01-011")
    expect(page.locator(f"#f-treatmentcycle-{cycle.pk}-weight_kg")).to_contain_text(str(cycle.weight_kg))
    expect(page.locator(f"#f-treatmentcycle-{cycle.pk}-prescribed_daily_dose_g")).to_contain_text(
        str(cycle.prescribed_daily_dose_g))
    finish("monitor-cycle-view", me)


@pytest.mark.req("URS-SIG-004")
def test_investigator_sees_the_values_on_the_sign_page(open_as, investigator, site_a):
    patient = PatientFactory(site=site_a, subject_id="01-012")
    cycle = full_cycle(patient)
    infusion = cycle.infusions.get(day=2)
    me = open_as(investigator)
    page = me.page
    open_timeline(page, "01-012")
    page.locator("#timeline tr#cycle-1").get_by_role("link", name="sign").click()
    expect(page.get_by_role("heading", name="What you sign")).to_be_visible()
    expect(page.locator(f"#f-infusion-{infusion.pk}-dose_g")).to_contain_text(str(infusion.dose_g))
    page.get_by_label("Password").fill(me.password)
    page.get_by_role("button", name="Sign").click()
    expect(page.get_by_role("alert").filter(has_text="Signed cycle 1 of 01-012")).to_be_visible()
    finish("investigator-sign-values", me)


@pytest.mark.req("URS-CPY-006")
def test_clinician_reads_the_casebook_history(open_as, clinician, site_a):
    patient = PatientFactory(site=site_a, subject_id="01-013")
    DiagnosisFactory(patient=patient)
    cycle = full_cycle(patient)
    cycle.height_cm = 171
    record_save(instance=cycle, reason="Height measured again", expected_version=cycle.version, user=clinician)
    me = open_as(clinician)
    page = me.page
    page.goto(f"/patients/{patient.pk}/")
    page.locator("#casebook-link").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Casebook of 01-013")
    history = page.locator(f"#crf-treatmentcycle-{cycle.pk}-history")
    history.locator("summary").click()
    expect(history).to_contain_text("Height measured again")
    finish("clinician-casebook", me)
