"""The browser session of one user, and what the e2e tests launch (see conftest.py).

Every page a session shows is also checked for layout and accessibility
(``page_problems``): at a tablet's 820x1180 (and 768 px wide) the page must not
scroll sideways (``scrollWidth <= innerWidth``), and axe-core must find no
violation of impact "serious" or "critical". The session keeps a copy of each
HTML page it receives; ``check_pages()`` (called by ``assert_clean()``) replays
each copy in a separate tab of the same browser context, at tablet size, so
the journey itself is neither slowed nor raced. ``check_page()`` checks the
page shown now (for tests that drive a page on purpose at several widths).
"""

import hashlib
import os
import re
from pathlib import Path

from axe_playwright_python.sync_playwright import Axe

# Debian's Chromium (apt-get install -y chromium); E2E_CHROMIUM only to try another path.
CHROMIUM = os.environ.get("E2E_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e"
PASSWORD = "e2e-Correct-Horse-7"
TIMEOUT_MS = 15_000

TABLET = {"width": 820, "height": 1180}
NARROW_TABLET = {"width": 768, "height": 1024}
DESKTOP = {"width": 1400, "height": 900}
#: axe-core impacts that fail a page.
FAILING_IMPACTS = ("serious", "critical")
_axe = Axe()
_CSRF = re.compile(rb'name="csrfmiddlewaretoken" value="[^"]*"')


def overflow(page):
    """How many CSS pixels the page is wider than the viewport (0: no sideways scroll)."""
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


def axe_violations(page):
    """The serious and critical axe-core violations of the page shown, as readable lines."""
    results = _axe.run(page)
    lines = []
    for violation in results.response["violations"]:
        if violation.get("impact") not in FAILING_IMPACTS:
            continue
        targets = "; ".join(", ".join(map(str, node["target"])) for node in violation["nodes"][:5])
        lines.append(f"axe {violation['id']} ({violation['impact']}): {violation['help']} "
                     f"[{len(violation['nodes'])} element(s): {targets}]")
    return lines


def page_problems(page, where=None):
    """Layout and accessibility problems of the page shown, checked at 820x1180 and 768 px;
    the page is left at 820x1180."""
    where = where or page.url
    problems = []
    page.set_viewport_size(NARROW_TABLET)
    if (extra := overflow(page)) > 0:
        problems.append(f"{where}: {extra} px wider than a 768 px viewport (scrolls sideways)")
    page.set_viewport_size(TABLET)
    if (extra := overflow(page)) > 0:
        problems.append(f"{where}: {extra} px wider than an 820 px viewport (scrolls sideways)")
    problems.extend(f"{where}: {line}" for line in axe_violations(page))
    return problems


def _serve_copy(url, html):
    """A route handler that answers the navigation to ``url`` with a kept copy of its page."""
    def serve(route):
        if route.request.url == url and route.request.resource_type == "document":
            route.fulfill(status=200, body=html, headers={"content-type": "text/html; charset=utf-8"})
        else:
            route.fallback()
    return serve


class BrowserSession:
    """One user's browser context and page, with every problem the page reports."""

    # Pushes CSP violations to the console with their details (init scripts are
    # injected by the browser itself, so the policy does not block this one).
    CSP_LISTENER = (
        "document.addEventListener('securitypolicyviolation', function (e) {"
        " console.error('CSP violation: ' + e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline')"
        " + ' at ' + e.sourceFile + ':' + e.lineNumber + ' (' + document.location.pathname + ')');"
        "});"
    )

    def __init__(self, browser, base_url, name):
        self.name = name
        self.base_url = base_url
        self.password = PASSWORD
        self.problems = []
        self.checked = False
        self.pages_seen = {}  # digest -> (url, status, html): every HTML page received, once
        self.pages_checked = set()
        self.last_page = None  # digest of the last HTML page received
        self.expected_errors = set()  # (path, status) a test visits on purpose
        self.context = browser.new_context(base_url=base_url, accept_downloads=True, viewport=DESKTOP)
        self.context.set_default_timeout(TIMEOUT_MS)
        self.context.add_init_script(self.CSP_LISTENER)
        self.page = self.context.new_page()
        self.page.on("console", self._on_console)
        self.page.on("pageerror", lambda error: self.problems.append(f"JS error: {error}"))
        self.page.on("response", self._on_response)

    def _on_console(self, message):
        if message.type not in ("error", "warning"):
            return
        text = message.text
        if any(text.endswith(f"status of {status} ({reason})") for status, reason in self._expected_console()):
            return  # the browser's note of an error page the test opened on purpose
        if message.type == "warning" and "Content Security Policy" not in text:
            return
        self.problems.append(f"console {message.type} on {self.page.url}: {text}")

    def _on_response(self, response):
        if not response.url.startswith(self.base_url):
            return
        path = response.url[len(self.base_url):].split("?")[0] or "/"
        if response.status >= 400 and (path, response.status) not in self.expected_errors:
            self.problems.append(f"HTTP {response.status} for {response.request.method} {response.url}")
        if response.request.resource_type == "document" and response.request.frame == self.page.main_frame:
            self.last_page = None
            if response.status < 300 and "text/html" in (response.headers.get("content-type") or ""):
                self._keep_page(response)
        # Without the policy on our pages the watch for violations would prove nothing.
        if (response.request.resource_type == "document" and response.status < 300
                and "script-src 'self'" not in (response.headers.get("content-security-policy") or "")):
            self.problems.append(f"no Content-Security-Policy on {response.url}")

    def _keep_page(self, response):
        """Keep a copy of an HTML page for ``check_pages()`` (the same page twice, once)."""
        try:
            html = response.body()
        except Exception as error:  # noqa: BLE001 - the browser dropped the body: say so
            self.problems.append(f"could not keep {response.url} for the layout check: {error}")
            return
        digest = hashlib.sha256(response.url.encode() + _CSRF.sub(b"", html)).hexdigest()
        self.pages_seen.setdefault(digest, (response.url, response.status, html))
        self.last_page = digest

    def _expected_console(self):
        from http import HTTPStatus
        path = self.page.url[len(self.base_url):].split("?")[0] or "/"
        return [(status, HTTPStatus(status).phrase) for p, status in self.expected_errors if p == path]

    def expect_status(self, path, status):
        """``path`` answers ``status`` (>= 400) on purpose: not a problem of the journey."""
        self.expected_errors.add((path, status))

    def check_page(self, page=None):
        """Check the page shown now at tablet sizes (see ``page_problems``), then put the
        viewport back; the problems fail the test at ``assert_clean()``."""
        page = page or self.page
        size = page.viewport_size
        self.problems.extend(page_problems(page))
        page.set_viewport_size(size)
        if page == self.page and self.last_page:
            self.pages_checked.add(self.last_page)  # checked live: no replay

    def check_pages(self):
        """Replay every HTML page this session received in a tab of its own at 820x1180
        (the same cookies, static files and scripts; the copy, not a new request) and
        check it."""
        pending = [(digest, page) for digest, page in self.pages_seen.items() if digest not in self.pages_checked]
        if not pending:
            return
        tab = self.context.new_page()
        tab.set_viewport_size(TABLET)
        try:
            for digest, (url, status, html) in pending:
                self.pages_checked.add(digest)
                tab.route(lambda candidate, url=url: candidate == url, _serve_copy(url, html))
                tab.goto(url)
                tab.wait_for_load_state("load")
                self.problems.extend(page_problems(tab, where=f"{url} (as received)"))
                tab.unroute_all()
        finally:
            tab.close()

    def login(self, username, password=PASSWORD):
        page = self.page
        page.goto("/accounts/login/")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()
        page.get_by_role("button", name="Log out").wait_for()
        return page

    def screenshot(self, journey):
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{journey}.png"), full_page=True)

    def screenshots(self, name):
        """Full-page screenshots of the page shown at 820 and 1400 px wide:
        ``test-artifacts/e2e/<name>-820.png`` and ``-1400.png``."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        size = self.page.viewport_size
        for viewport in (TABLET, DESKTOP):
            self.page.set_viewport_size(viewport)
            self.page.screenshot(path=str(ARTIFACTS / f"{name}-{viewport['width']}.png"), full_page=True)
        self.page.set_viewport_size(size)

    def assert_clean(self):
        self.check_pages()
        self.checked = True
        assert not self.problems, f"{self.name}: the browser reported problems:\n" + "\n".join(self.problems)
