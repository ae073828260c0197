"""Issue 14's review journey in a real browser, one cycle from source data verification
to a correction that invalidates what was verified and signed:

1. a monitor opens a LOCKED cycle read-only, verifies it field by field, then the whole
   form, and raises a data query from the weight field itself;
2. (the administrator unlocks the cycle for the correction;)
3. an investigator signs the cycle after reading the values on the sign page;
4. a clinician opens the cycle's edit form: the weight field is flagged, its thread is
   beside it, he answers in one step, is told before saving that the signature and the
   SDV will be invalidated, saves the correction, and the timeline shows both invalid.

Every page each user receives is also checked at 820x1180 and 768 px (no sideways
scrolling) and by axe-core (no serious or critical violation): ``BrowserSession``'s
page check, run by ``finish`` -> ``assert_clean``.
"""

import re

import pytest
from playwright.sync_api import expect

from oversight import services as oversight_services
from review.models import DataQuery, QueryStatus, Signature, SourceVerification
from tests.e2e.test_journeys import finish, open_timeline
from tests.patients.factories import PatientFactory
from tests.visits.factories import full_cycle

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True),
              pytest.mark.usefixtures("restore_migrated_data")]


def field_row(page, model, pk, name):
    return page.locator(f"#f-{model}-{pk}-{name}")


@pytest.mark.req("URS-OPS-001")
def test_verify_query_sign_answer_and_warned_correction(open_as, monitor, investigator, clinician,
                                                         admin_user, site_a):
    patient = PatientFactory(site=site_a, subject_id="01-021")
    cycle = full_cycle(patient)
    assessment = cycle.assessment
    oversight_services.record_lock(record=cycle, user=admin_user, reason="Monitoring visit")

    # 1. The monitor: the locked cycle, read-only, verified field by field; a query from a field.
    mon = open_as(monitor)
    page = mon.page
    open_timeline(page, "01-021")
    page.locator("#timeline tr#cycle-1").get_by_role("link", name="view").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Cycle 1 of 01-021")
    weight = field_row(page, "treatmentcycle", cycle.pk, "weight_kg")
    expect(weight).to_contain_text(str(cycle.weight_kg))
    for row in (weight, field_row(page, "assessment", assessment.pk, "ck_u_per_l")):
        row.get_by_role("button", name=re.compile(r"^Verify")).click()
        expect(row.locator(".sdv-mark")).to_be_visible()
    assert SourceVerification.objects.filter(object_id__in=[cycle.pk, assessment.pk]).exclude(field_name="").count() == 2
    page.locator(f"#crf-treatmentcycle-{cycle.pk}").get_by_role("button", name="Verify form").click()
    expect(page.locator(f"#crf-treatmentcycle-{cycle.pk} .sdv").first).to_contain_text("Source data verified")

    weight = field_row(page, "treatmentcycle", cycle.pk, "weight_kg")
    weight.get_by_role("link", name=re.compile(r"^Query")).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Raise a data query")
    page.get_by_label("Question").fill(f"Weight {cycle.weight_kg} kg: please confirm against the ward scale record.")
    page.get_by_role("button", name="Raise query").click()
    # Back on the read-only cycle, the field shows its open query.
    expect(page.get_by_role("heading", level=1)).to_contain_text("Cycle 1 of 01-021")
    expect(field_row(page, "treatmentcycle", cycle.pk, "weight_kg").locator(".field-query-open")).to_be_visible()
    mon.screenshots("review-1-monitor-cycle-verified-and-queried")
    query = DataQuery.objects.get(patient=patient)
    assert (query.field_name, query.status) == ("weight_kg", QueryStatus.OPEN)

    # 2. The administrator unlocks the cycle so the site can correct it.
    oversight_services.record_unlock(record=cycle, user=admin_user, reason="Correction requested by the monitor")

    # 3. The investigator reads the values on the sign page, then signs.
    inv = open_as(investigator)
    page = inv.page
    open_timeline(page, "01-021")
    page.locator("#timeline tr#cycle-1").get_by_role("link", name="sign").click()
    expect(page.get_by_role("heading", name="What you sign")).to_be_visible()
    expect(field_row(page, "treatmentcycle", cycle.pk, "weight_kg")).to_contain_text(str(cycle.weight_kg))
    expect(field_row(page, "assessment", assessment.pk, "ck_u_per_l")).to_contain_text(str(assessment.ck_u_per_l))
    inv.screenshots("review-2-investigator-sign-page")
    page.get_by_label("Password").fill(inv.password)
    page.get_by_role("button", name="Sign").click()
    expect(page.get_by_role("alert").filter(has_text="Signed cycle 1 of 01-021")).to_be_visible()

    # 4. The clinician: the flagged field, a one-step answer, the warning, the correction.
    cli = open_as(clinician)
    page = cli.page
    open_timeline(page, "01-021")
    page.locator("#timeline tr#cycle-1").get_by_role("link", name="open", exact=True).click()
    weight_input = page.locator("#id_cycle-weight_kg")
    expect(weight_input).to_have_class(re.compile(r"has-query"))
    thread = page.locator(".query-thread").filter(has_text="please confirm against the ward scale")
    expect(thread).to_be_visible()
    # The thread is named by the field's description (screen readers hear it with the field).
    thread_id = thread.get_attribute("id")
    assert thread_id in (weight_input.get_attribute("aria-describedby") or "").split()
    warning = page.locator(".edit-review-warning")
    expect(warning).to_contain_text("Saving a change will invalidate")
    expect(warning).to_contain_text("signature of cycle 1")
    expect(warning).to_contain_text("source data verification of cycle 1")
    expect(warning).to_contain_text("CK (U/L)")  # the assessment's field verified one by one
    cli.screenshots("review-3-clinician-flagged-field-and-warning")

    thread.get_by_label(re.compile(r"^Your answer")).fill("Re-weighed on the calibrated scale: 71.0 kg; corrected.")
    thread.get_by_role("button", name="Send answer").click()
    expect(thread.locator(".query-answer-status")).to_contain_text("answered")
    query.refresh_from_db()
    assert query.status == QueryStatus.ANSWERED

    weight_input.fill("71.0")
    page.get_by_label("Reason for change").fill("Weight re-measured on a calibrated scale (query answered)")
    page.get_by_role("button", name="Save cycle").click()
    row = page.locator("#timeline tr#cycle-1")
    expect(row.locator(".signature")).to_contain_text("needs signing again")
    expect(row.locator(".sdv")).to_contain_text("SDV")
    signature = Signature.objects.with_invalidation().get(object_id=cycle.pk)
    assert signature.invalidation_at is not None
    finish("review-4-clinician-timeline-after-correction", cli, mon, inv)
