"""The guard of every journey: the browser session reports an inline script,
an inline style and an uncaught exception on a page served with the site's
Content-Security-Policy (no live server or database needed)."""

import pytest
from django.conf import settings

from .browser import BrowserSession

PAGE_URL = "http://e2e.invalid/"
PAGE = b"""<!doctype html><html><head><title>t</title></head><body>
<script>window.inlineRan = true;</script>
<p style="color: red">inline style</p>
</body></html>"""


@pytest.mark.req("URS-SEC-001")
def test_the_watcher_reports_csp_violations_and_js_errors(browser):
    session = BrowserSession(browser, PAGE_URL, "watcher")
    try:
        page = session.page
        page.route(PAGE_URL, lambda route: route.fulfill(
            status=200, body=PAGE, content_type="text/html; charset=utf-8",
            headers={"Content-Security-Policy": settings.CONTENT_SECURITY_POLICY}))
        page.goto(PAGE_URL)
        page.evaluate("() => { setTimeout(() => { throw new Error('deliberate e2e error'); }, 0); }")
        page.wait_for_timeout(300)
        assert page.evaluate("() => window.inlineRan === undefined"), "the policy let an inline script run"
        report = "\n".join(session.problems)
        assert "script-src" in report, report
        assert "style-src" in report, report
        assert "deliberate e2e error" in report, report
    finally:
        session.checked = True
        session.context.close()


TABLET_TRAP = b"""<!doctype html><html lang="en"><head><title>t</title></head><body><main>
<h1>A page that fits a desktop only</h1>
<div id="wide"></div>
<form><input type="text" name="unlabelled"></form>
</main><script src="/wide.js"></script></body></html>"""
# Served as a file: the policy of the other test would refuse an inline style or script.
WIDE_JS = b"document.getElementById('wide').style.width = '1000px'; document.getElementById('wide').style.height = '10px';"


def test_every_page_received_is_checked_at_tablet_width_and_with_axe(browser):
    """A page that is fine at 1400 px but 1,000 px wide inside, with an unlabelled input:
    the session's replay at 820x1180 reports both, though the journey never resized."""
    session = BrowserSession(browser, PAGE_URL, "tablet-watcher")
    try:
        page = session.page
        page.route(PAGE_URL, lambda route: route.fulfill(
            status=200, body=TABLET_TRAP, content_type="text/html; charset=utf-8",
            headers={"Content-Security-Policy": settings.CONTENT_SECURITY_POLICY}))
        # For the journey's tab and the replay's tab alike.
        session.context.route(PAGE_URL + "wide.js", lambda route: route.fulfill(
            status=200, body=WIDE_JS, content_type="text/javascript"))
        page.goto(PAGE_URL)
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # at 1400 px
        assert not session.problems, session.problems
        session.check_pages()
        report = "\n".join(session.problems)
        assert "wider than an 820 px viewport" in report, report
        assert "wider than a 768 px viewport" in report, report
        assert "axe label (critical)" in report, report
        # Each page once: a second check finds nothing new to replay.
        count = len(session.problems)
        session.check_pages()
        assert len(session.problems) == count
    finally:
        session.checked = True
        session.context.close()
