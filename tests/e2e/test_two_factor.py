"""Issue 12, finding 9, in a browser: a user changes their password, sets up an
authenticator from the menu (the QR code renders under the CSP), and the next
login asks for a real TOTP code before any page."""

from base64 import b32decode

import pytest
from django_otp.oath import totp
from playwright.sync_api import expect

from .browser import PASSWORD, BrowserSession

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True),
              pytest.mark.usefixtures("restore_migrated_data")]

NEW_PASSWORD = "e2e-New-Horse-8!"


def code(secret, later=0):
    key = b32decode(secret.replace(" ", ""))
    return f"{totp(key, drift=later):06d}"


@pytest.mark.req("URS-ACC-006")
def test_change_password_enrol_and_sign_in_with_a_code(open_as, browser, live_server, clinician):
    me = open_as(clinician)
    page = me.page
    page.locator("#account-menu").click()  # the account menu (the user's name)
    page.get_by_role("link", name="Password and two-factor").click()
    page.get_by_role("link", name="Change your password").click()
    page.locator("#id_old_password").fill(PASSWORD)
    page.locator("#id_new_password1").fill(NEW_PASSWORD)
    page.locator("#id_new_password2").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_text("Your password has been changed.")).to_be_visible()

    page.get_by_role("link", name="Set up two-factor authentication").click()
    qr = page.locator("#two-factor-qr")
    expect(qr).to_be_visible()
    assert page.evaluate("document.getElementById('two-factor-qr').naturalWidth") > 50  # rendered
    secret = page.locator("#two-factor-secret").inner_text()
    me.screenshot("two_factor_setup")
    page.get_by_label("Code from your authenticator app").fill(code(secret))
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_text("Two-factor authentication is set up")).to_be_visible()
    me.assert_clean()

    again = BrowserSession(browser, live_server.url, "two-factor-login")
    page = again.page
    page.goto("/patients/")
    page.get_by_label("Username").fill(clinician.username)
    page.get_by_label("Password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Enter your code")).to_be_visible()
    expect(page.get_by_role("link", name="Patients")).to_have_count(0)  # no menu before the code
    page.get_by_label("Code from your authenticator app").fill(code(secret, later=1))
    page.get_by_role("button", name="Continue").click()
    expect(page).to_have_url(f"{live_server.url}/patients/")
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    again.assert_clean()
    again.context.close()
