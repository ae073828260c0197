"""The guard of every journey: the browser session reports an inline script,
an inline style and an uncaught exception on a page served with the site's
Content-Security-Policy (no live server or database needed)."""

from django.conf import settings

from .browser import BrowserSession

PAGE_URL = "http://e2e.invalid/"
PAGE = b"""<!doctype html><html><head><title>t</title></head><body>
<script>window.inlineRan = true;</script>
<p style="color: red">inline style</p>
</body></html>"""


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
