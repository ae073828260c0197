"""The browser session of one user, and what the e2e tests launch (see conftest.py)."""

import os
from pathlib import Path

# Debian's Chromium (apt-get install -y chromium); E2E_CHROMIUM only to try another path.
CHROMIUM = os.environ.get("E2E_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e"
PASSWORD = "e2e-Correct-Horse-7"
TIMEOUT_MS = 15_000


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
        self.context = browser.new_context(base_url=base_url, accept_downloads=True,
                                           viewport={"width": 1400, "height": 900})
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
        if message.type == "warning" and "Content Security Policy" not in text:
            return
        if (message.location or {}).get("url", "").endswith("/favicon.ico"):
            return  # the browser's own request for an icon the site does not declare
        self.problems.append(f"console {message.type} on {self.page.url}: {text}")

    def _on_response(self, response):
        if not response.url.startswith(self.base_url):
            return
        # /favicon.ico: the browser's own request (the site declares no icon).
        if response.status >= 400 and not response.url.endswith("/favicon.ico"):
            self.problems.append(f"HTTP {response.status} for {response.request.method} {response.url}")
        # Without the policy on our pages the watch for violations would prove nothing.
        if (response.request.resource_type == "document" and response.status < 300
                and "script-src 'self'" not in (response.headers.get("content-security-policy") or "")):
            self.problems.append(f"no Content-Security-Policy on {response.url}")

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

    def assert_clean(self):
        self.checked = True
        assert not self.problems, f"{self.name}: the browser reported problems:\n" + "\n".join(self.problems)
