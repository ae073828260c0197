"""Browser end-to-end tests: Playwright (sync API, no pytest-playwright) driving
Debian's Chromium against pytest-django's ``live_server``.

- One headless Chromium for the whole session (``browser``); each user gets
  a fresh browser context (own cookies) from ``open_as``, logged in through
  the real login form with a real password.
- Every page of every journey is watched: a console error (Chromium logs a
  Content-Security-Policy violation as one), a ``securitypolicyviolation``
  event, an uncaught JavaScript exception or an HTTP error answer fails the
  test.
- ``live_server`` makes the tests transactional: the database is emptied
  after each one. ``serialized_rollback`` puts back what the migrations
  created (role groups and their permissions) before each test, and the
  module fixture ``restore_migrated_data`` (used by test_journeys.py) puts it
  back once more after the last, so tests that run later still find the roles.
- ``DJANGO_ALLOW_ASYNC_UNSAFE`` is set for the whole process once this file
  is imported: the live server's ORM calls happen while Playwright's event
  loop runs in the test thread.

Without ``/usr/bin/chromium`` (``apt-get install -y chromium``) the tests are
skipped, with the reason; ``.ci/run`` installs it. Never ``playwright
install``.
"""

import os
from pathlib import Path

import pytest

# The sync Playwright API runs an event loop in this thread; Django refuses ORM
# calls from a thread with a running loop unless told this is deliberate.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

from .browser import CHROMIUM, CHROMIUM_ARGS, PASSWORD, BrowserSession  # noqa: E402


def pytest_collection_modifyitems(config, items):
    if os.path.exists(CHROMIUM):
        return
    skip = pytest.mark.skip(reason=f"{CHROMIUM} is missing: browser tests need Debian's Chromium "
                                   "(apt-get install -y chromium); .ci/run installs it")
    here = Path(__file__).resolve().parent
    for item in items:
        if here in Path(item.path).resolve().parents:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def browser(django_db_setup, django_db_blocker):
    from django.db import connections
    from playwright.sync_api import sync_playwright

    # Django's connections are kept per thread *and* per event loop: once
    # Playwright's loop runs in this thread, the ORM gets new connection
    # objects, without the serialized copy of the migrated data that
    # ``serialized_rollback`` restores (role groups, permissions). Carry it over,
    # or every test after the first live-server one loses the roles.
    with django_db_blocker.unblock():
        saved = {alias: getattr(connections[alias], "_test_serialized_contents", None)
                 for alias in connections}
    playwright = sync_playwright().start()
    with django_db_blocker.unblock():
        for alias, contents in saved.items():
            if contents is not None and not hasattr(connections[alias], "_test_serialized_contents"):
                connections[alias]._test_serialized_contents = contents
    try:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                              args=CHROMIUM_ARGS)
    except Exception:
        playwright.stop()
        raise
    yield chromium
    chromium.close()
    playwright.stop()


@pytest.fixture(scope="module")
def restore_migrated_data(django_db_blocker):
    """After the module, put back the rows the migrations made (role groups,
    permissions) that the last live-server test's flush removed."""
    yield
    from django.contrib.contenttypes.models import ContentType
    from django.db import connections

    with django_db_blocker.unblock():
        for connection in connections.all():
            contents = getattr(connection, "_test_serialized_contents", None)
            # Only after a serialized-rollback flush (it leaves even the content types out).
            if contents and not ContentType.objects.using(connection.alias).exists():
                connection.creation.deserialize_db_from_string(contents)


@pytest.fixture
def open_as(browser, live_server):
    """``open_as(user)``: a fresh browser context logged in as ``user`` through the
    login form (the user's password is set to ``PASSWORD``). Any CSP violation,
    JS error or HTTP error seen by any of these pages fails the test."""
    sessions = []

    def open_session(user):
        user.set_password(PASSWORD)
        user.save(update_fields=["password"])
        session = BrowserSession(browser, live_server.url, user.username)
        sessions.append(session)
        session.login(user.username)
        return session

    yield open_session
    # Journeys call assert_clean() at their end; this catches the ones that did not
    # (after checking the layout and accessibility of the pages they received).
    for session in sessions:
        if not session.checked:
            session.check_pages()
    problems = [p for s in sessions if not s.checked for p in s.problems]
    for session in sessions:
        session.context.close()
    if problems:
        pytest.fail("the browser reported problems:\n" + "\n".join(problems))
