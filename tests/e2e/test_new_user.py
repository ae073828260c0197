"""What a new user tries first (issue 7, "done when"): wrong passwords lock the
account with a clear page, and sign out the session the user had open in another
browser (issue 12); a form opened in two tabs and saved in both shows a
conflict on the second save, naming what the first one changed."""

import re

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from patients.models import Patient
from tests.patients.factories import PatientFactory

from .browser import ARTIFACTS, PASSWORD, BrowserSession

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True),
              pytest.mark.usefixtures("restore_migrated_data")]


@pytest.mark.req("URS-ACC-004")
def test_wrong_passwords_lock_the_account_with_a_clear_page(browser, live_server, clinician):
    clinician.set_password(PASSWORD)
    clinician.save(update_fields=["password"])
    # The user's own browser, signed in at the ward's desk.
    desk = BrowserSession(browser, live_server.url, "lockout-desk")
    desk.login(clinician.username)
    desk.page.goto("/patients/")
    expect(desk.page.get_by_role("button", name="Log out")).to_be_visible()

    me = BrowserSession(browser, live_server.url, "lockout")
    page = me.page
    for attempt in range(1, 6):
        page.goto("/accounts/login/")
        page.get_by_label("Username").fill(clinician.username)
        page.get_by_label("Password").fill(f"wrong-{attempt}")
        page.get_by_role("button", name="Log in").click()
        if attempt < 5:
            expect(page.get_by_text("Please enter a correct username and password")).to_be_visible()
    expect(page.get_by_role("heading", name="This account is locked")).to_be_visible()
    # The sixth try, with the right password, is refused too.
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(clinician.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="This account is locked")).to_be_visible()
    expect(page.get_by_text("Ask the study's administrator to unlock it")).to_be_visible()
    expect(page.get_by_role("button", name="Log out")).to_have_count(0)
    me.screenshot("new_user_lockout")
    # The lockout page answers 429 (Too Many Requests): expected here, nothing else is.
    me.problems = [p for p in me.problems if "HTTP 429" not in p and "status of 429" not in p]
    me.assert_clean()
    me.context.close()

    # The session open at the desk ended with the lock: the next click asks to log in.
    desk.page.get_by_role("link", name="Patients").click()
    expect(desk.page).to_have_url(re.compile(r"/accounts/login/\?next="))
    expect(desk.page.get_by_role("button", name="Log out")).to_have_count(0)
    expect(desk.page.get_by_role("button", name="Log in")).to_be_visible()
    desk.screenshot("new_user_lockout_other_session")
    desk.assert_clean()
    desk.context.close()


@pytest.mark.req("URS-PRO-006")
def test_a_form_saved_in_two_tabs_shows_a_conflict_on_the_second_save(open_as, clinician, site_a):
    patient = PatientFactory(site=site_a, subject_id="01-001")
    me = open_as(clinician)
    url = reverse("patients:patient_update", args=[patient.pk])
    first, second = me.page, me.context.new_page()
    second.on("pageerror", lambda error: me.problems.append(f"JS error: {error}"))
    for tab in (first, second):
        tab.goto(url)
    first.get_by_label("Enrolment date").fill("2025-03-12")
    first.get_by_label("Reason for change").fill("Wrong date on the CRF")
    first.get_by_role("button", name="Save").click()
    expect(first.get_by_text("Patient record corrected.")).to_be_visible()

    second.get_by_label("Sex").select_option("M")
    second.get_by_label("Reason for change").fill("Sex entered wrongly")
    second.get_by_role("button", name="Save").click()
    # In the error summary at the top (which takes the focus), as well as beside the form.
    conflict = second.locator("#error-summary").get_by_text("Someone else saved this record")
    expect(second.locator("#error-summary")).to_be_focused()
    expect(conflict).to_be_visible()
    expect(conflict).to_contain_text("changed Enrolment date: 2025-03-10 → 2025-03-12")
    expect(conflict).to_contain_text("Nothing was overwritten")
    stored = Patient.objects.get(pk=patient.pk)
    assert (stored.sex, stored.enrolment_date.isoformat(), stored.version) == ("F", "2025-03-12", 2)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    second.screenshot(path=str(ARTIFACTS / "new_user_two_tabs.png"), full_page=True)
    me.assert_clean()
