"""Issue 14, item 7: every main page, for each role, on a tablet (820x1180) and at
768 px: no sideways scrolling and no serious or critical axe-core violation; the
navbar collapses with "Log out" reachable; the error pages have the navigation.

The data is the demo study (``seed_demo``) plus a serious adverse event, a data
query and a signature, so that the lists, queues and detail pages have rows.
Screenshots of each page at 820 and 1400 px: ``test-artifacts/e2e/tablet-<role>-<page>-<width>.png``.
"""

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from playwright.sync_api import expect

from core.services import record_save
from patients.models import Patient
from review import services as review_services
from safety.models import AdverseEvent
from safety.services import adverse_event_save
from visits.models import TreatmentCycle

from .browser import TABLET, BrowserSession

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True),
              pytest.mark.usefixtures("restore_migrated_data")]


@pytest.fixture
def study(settings):
    """The demo study, with a serious adverse event, a query and a signed cycle."""
    call_command("seed_demo", "--force", verbosity=0)
    users = {u.username: u for u in get_user_model().objects.filter(
        username__in=["clinician", "investigator", "coordinator", "monitor", "admin"])}
    patient = Patient.objects.get(subject_id="01-001")
    cycle = TreatmentCycle.objects.filter(patient=patient).order_by("number").first()
    infusion = cycle.infusions.order_by("day").first()
    event = adverse_event_save(user=users["clinician"], event=AdverseEvent(
        patient=patient, infusion=infusion, term="Acute kidney injury after the infusion, a long term to wrap",
        description="Creatinine doubled on day 3; admitted for intravenous fluids.",
        onset_date=infusion.infusion_date, grade=3, serious=True, serious_hospitalisation=True,
        relatedness="probable", action_taken="interrupted", outcome="recovering"))
    query = review_services.query_raise(
        record=cycle, field_name="weight_kg", field_label="Weight (kg)", record_label=f"Cycle {cycle.number}",
        question="The weight differs from the source document by 2 kg: please check.",
        user=users["monitor"], cycle_number=cycle.number)
    return {"users": users, "patient": patient, "cycle": cycle, "event": event, "query": query}


def pages_for(role, study):
    """(name, url, expected status) of the main pages a role works in."""
    p, c, e, q = study["patient"].pk, study["cycle"], study["event"].pk, study["query"].pk
    common = [
        ("dashboard", "/oversight/", 200),
        ("patients", "/patients/", 200),
        ("patient", f"/patients/{p}/", 200),
        ("timeline", f"/patients/{p}/timeline/", 200),
        ("adverse-events", "/safety/adverse-events/", 200),
        ("deviations", "/deviations/", 200),
        ("queries", "/oversight/queries/", 200),
        ("query", f"/oversight/queries/{q}/", 200),
        ("security", "/accounts/security/", 200),
        ("api-token", "/api/token/", 200),
        ("not-found", "/patients/99999999/", 404),
        # The read-only forms and the work lists (issue 14), for every role.
        ("casebook", f"/patients/{p}/casebook/", 200),
        ("cycle-view", f"/patients/{p}/cycles/{c.number}/view/", 200),
        ("end-of-treatment-view", f"/patients/{p}/end-of-treatment/view/", 200),
        ("ae-view", f"/safety/patients/{p}/adverse-events/{e}/view/", 200),
        ("cycle-list", "/oversight/cycles/", 200),
        ("casebook-list", "/oversight/casebooks/", 200),
        ("patients-overdue", "/patients/?schedule=overdue", 200),
    ]
    extra = {
        "clinician": [
            ("enrol", "/patients/new/", 200),
            ("patient-edit", f"/patients/{p}/edit/", 200),
            ("diagnosis", f"/patients/{p}/diagnosis/", 200),
            ("malignancy", f"/patients/{p}/malignancies/new/", 200),
            ("cycle-new", f"/patients/{p}/cycles/new/", 200),
            ("cycle", f"/patients/{p}/cycles/{c.number}/", 200),
            ("ae-new", f"/safety/patients/{p}/adverse-events/new/", 200),
            ("ae-edit", f"/safety/patients/{p}/adverse-events/{e}/", 200),
            ("end-of-treatment", f"/patients/{p}/end-of-treatment/", 200),
            ("forbidden", "/oversight/audit/", 403),
        ],
        "investigator": [
            ("sign", f"/oversight/cycles/{c.pk}/sign/", 200),
            ("sign-casebook", f"/oversight/casebooks/{p}/sign/", 200),
            ("ae-follow-up", f"/safety/patients/{p}/adverse-events/{e}/follow-up/", 200),
        ],
        "coordinator": [
            ("report", "/reports/", 200),
            ("exports", "/exports/", 200),
        ],
        "monitor": [
            ("sae-queue", "/oversight/adverse-events/", 200),
            ("ae-listing", "/oversight/adverse-events/listing/", 200),
            ("ae-review", f"/oversight/adverse-events/{e}/", 200),
            ("query-raise-field", f"/oversight/queries/new/?patient={p}&target=treatmentcycle:{c.pk}:weight_kg", 200),
        ],
        "admin": [
            ("audit-trail", "/oversight/audit/", 200),
            ("signature-check", "/oversight/audit/signatures/", 200),
            ("report", "/reports/", 200),
            ("exports", "/exports/", 200),
            ("sae-queue", "/oversight/adverse-events/", 200),
        ],
    }
    return common + extra[role]


@pytest.mark.parametrize("role", ["clinician", "investigator", "coordinator", "monitor", "admin"])
@pytest.mark.req("URS-USR-003")
def test_main_pages_fit_a_tablet_and_pass_axe(open_as, study, role):
    me = open_as(study["users"][role])
    page = me.page
    for name, url, status in pages_for(role, study):
        if status >= 400:  # a deliberate error page: expected, not a problem of the journey
            me.expect_status(url, status)
        response = page.goto(url)
        assert response.status == status, f"{role} {url}: {response.status}"
        me.check_page()
        me.screenshots(f"tablet-{role}-{name}")
        if status >= 400:  # the error pages keep the navigation and a way home
            expect(page.get_by_role("navigation", name="Main")).to_be_visible()
            expect(page.get_by_role("main").get_by_role("link", name="home page")).to_be_visible()
    # On a tablet the navbar collapses: the menu button opens it, "Log out" is on screen.
    page.set_viewport_size(TABLET)
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Patients", exact=True)).to_be_hidden()
    nav.get_by_role("button", name="Menu").click()
    expect(nav.get_by_role("link", name="Patients", exact=True)).to_be_visible()
    expect(nav.get_by_role("link", name="Patients", exact=True)).to_be_in_viewport()
    expect(nav.get_by_role("button", name="Log out")).to_be_in_viewport()
    me.assert_clean()


@pytest.mark.req("URS-USR-003")
def test_login_page_and_skip_link(browser, live_server):
    me = BrowserSession(browser, live_server.url, "anonymous")
    try:
        page = me.page
        page.goto("/accounts/login/")
        me.check_page()
        me.screenshots("tablet-anonymous-login")
        # The skip link is the page's first link: hidden until focused, then shown; it
        # moves the focus to the main content.
        skip = page.get_by_role("link", name="Skip to main content")
        assert page.evaluate("document.querySelector('a[href]') === document.querySelector('.skip-link')")
        expect(skip).not_to_be_in_viewport()
        skip.focus()
        expect(skip).to_be_in_viewport()
        page.keyboard.press("Enter")
        expect(page.locator("main#main")).to_be_focused()
        me.assert_clean()
    finally:
        me.context.close()
