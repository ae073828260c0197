"""A clinician records a month's cycle in the browser (issue 14, item 4): the previous cycle's values
are carried forward, day 2 is filled from day 1, the planned date and window are shown and a start
date outside the window warns while typing, and a refused save shows an error summary that takes the
focus, with one dose status per day."""

import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from tests.patients.factories import PatientFactory
from tests.visits.factories import full_cycle
from visits.models import Assessment, TreatmentCycle

from .test_journeys import finish

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True),
              pytest.mark.usefixtures("restore_migrated_data")]


@pytest.mark.req("URS-PRT-004", "URS-PRT-020")
def test_clinician_records_a_cycle_with_carried_values_and_live_checks(open_as, clinician, site_a):
    patient = PatientFactory(site=site_a, subject_id="01-003", sex="F")
    first = full_cycle(patient, number=1, height_cm=Decimal("165.0"))  # started 2025-03-17, 70 kg
    Assessment.objects.filter(cycle=first).update(ck_lln_u_per_l=Decimal("26"), alt_uln_u_per_l=Decimal("35"))
    first.infusions.update(product="Privigen")
    me = open_as(clinician)
    page = me.page
    page.get_by_role("navigation").get_by_role("link", name="Patients", exact=True).click()
    page.get_by_role("link", name="01-003", exact=True).first.click()
    page.get_by_role("link", name="Treatment timeline").click()
    page.get_by_role("link", name="Record cycle").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Record cycle 2 for 01-003")

    # Carried forward from cycle 1, with a note to check them.
    expect(page.get_by_label("Weight (kg)")).to_have_value("70.0")
    expect(page.get_by_label("Height (cm)", exact=True)).to_have_value("165.0")
    expect(page.get_by_label("CK lower limit (U/L)", exact=True)).to_have_value("26.0")
    day1 = page.locator("fieldset[data-day='1']")
    expect(day1.get_by_label("Product")).to_have_value("Privigen")
    expect(page.locator(".carried-note").first).to_contain_text("carried forward from cycle 1 (2025-03-17)")

    # The planned date and window; a start date outside it warns while typing.
    expect(page.locator("#cycle-window")).to_contain_text("Planned: 2025-04-14 (window 2025-04-07 to 2025-04-21)")
    page.get_by_label("Start date (day 1)").fill("2025-04-30")
    expect(page.locator("#window-check")).to_contain_text("Outside the visit window")
    page.get_by_label("Start date (day 1)").fill("2025-04-15")
    expect(page.locator("#window-check")).to_contain_text("within the window")

    # Day 2 is filled with day 1 + 1 (the preview's date); a day 2 typed later is checked.
    day2 = page.locator("fieldset[data-day='2']")
    day1.get_by_label("Infusion date").fill("2025-04-15")
    expect(day2.get_by_label("Infusion date")).to_have_value("2025-04-16")
    expect(page.locator("#day2-check")).to_contain_text("the day after day 1")
    day2.get_by_label("Infusion date").fill("2025-04-18")
    expect(page.locator("#day2-check")).to_contain_text("3 days after day 1")
    day2.get_by_label("Infusion date").fill("")  # day 2 not given: stays empty
    expect(page.locator("#day2-check")).to_have_text("")

    # The rest of the page, with day 1's volume mistyped (200 mL of 10 % is not 70 g).
    page.get_by_label("Assessment date").fill("2025-04-15")
    for muscle in ("Neck flexors", "Deltoid (middle)", "Biceps", "Wrist extensors", "Gluteus maximus",
                   "Gluteus medius", "Quadriceps", "Ankle dorsiflexors"):
        page.get_by_label(muscle, exact=True).fill("8")
    page.get_by_label("CK (U/L)", exact=True).fill("900")
    day1.get_by_label("Lot number").fill("LOT-B2")
    day1.get_by_label("Volume (mL)", exact=True).fill("200")
    day1.get_by_label("Dose given (g)").fill("70")
    day1.get_by_label("Maximum rate (mL/h)", exact=True).fill("150")
    page.get_by_role("button", name="Save cycle").click()

    # Refused: the summary says so, takes the focus and links to the field, which has a red border;
    # day 1's dose status is the error (no green "within" beside it).
    summary = page.locator("#error-summary")
    expect(summary).to_contain_text("There is 1 problem")
    expect(summary).to_be_focused()
    volume = page.locator("#id_day1-volume_ml")
    expect(volume).to_have_class(re.compile(r"\bis-invalid\b"))
    expect(volume).to_have_attribute("aria-invalid", "true")
    summary.get_by_role("link").click()
    expect(volume).to_be_focused()
    dose_check = page.locator(".dose-check[data-day='1']")
    expect(page.locator("#prescribed-daily")).to_have_text("70.0")  # the preview answered
    expect(dose_check).not_to_contain_text("within")
    assert TreatmentCycle.objects.filter(patient=patient).count() == 1

    # Corrected: the stale error goes, the live status takes over, and the cycle saves.
    volume.fill("700")
    expect(volume).not_to_have_class(re.compile(r"\bis-invalid\b"))
    expect(dose_check).to_contain_text("Dose within")
    page.get_by_role("button", name="Save cycle").click()
    expect(page.get_by_role("alert").filter(has_text="Cycle 2 saved")).to_be_visible()
    cycle = TreatmentCycle.objects.get(patient=patient, number=2)
    assert cycle.height_cm == Decimal("165.0") and cycle.assessment.ck_lln_u_per_l == Decimal("26")
    assert list(cycle.infusions.values_list("day", "product")) == [(1, "Privigen")]
    finish("clinician-cycle-page", me)
