"""Issue 15's background export in a real browser, with a real worker:

1. a coordinator starts an XLSX export "in the background" from the exports page;
2. a worker (a thread running ``jobs.worker.run_pending`` cycles against the live
   server's database) runs it while the page polls its status: the progress bar moves
   from queued through running to done (every state the page showed is recorded by the
   page itself, so nothing here depends on timing);
3. the coordinator downloads the file (read back with openpyxl);
4. a clinician of another site gets a 404 on its download URL.

A test-only setting slows the job (a pause after each tick of a few rows) so that a small
cohort's bar has time to move; nothing asserts a duration.
"""

import io
import threading
from contextlib import contextmanager
from pathlib import Path

import openpyxl
import pytest
from playwright.sync_api import expect

from jobs.models import JobFile, JobFileStatus
from oversight.models import AccessEvent, AccessKind
from reporting.models import ExportLog
from tests.e2e.test_journeys import finish
from tests.patients.factories import DiagnosisFactory, PatientFactory
from tests.visits.factories import full_cycle

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True),
              pytest.mark.usefixtures("restore_migrated_data")]

#: Kept by the page: every (state, bar value) the progress bar showed, in order.
RECORD_BAR = """
window.__jobBar = [];
document.addEventListener('DOMContentLoaded', function () {
  document.querySelectorAll('[data-job-file]').forEach(function (item) {
    var bar = item.querySelector('[data-job-bar]');
    function note() {
      var last = window.__jobBar[window.__jobBar.length - 1];
      var now = [item.getAttribute('data-status'), bar.getAttribute('value')];
      if (!last || last[0] !== now[0] || last[1] !== now[1]) { window.__jobBar.push(now); }
    }
    note();
    new MutationObserver(note).observe(item, {attributes: true, subtree: true});
  });
});
"""


@contextmanager
def worker(live_server):
    """Worker cycles in a thread until the block ends. On in-memory SQLite the thread uses
    the live server's connection (as its request thread does); elsewhere its own."""
    from django.db import connections
    from jobs.worker import run_pending

    stop, errors = threading.Event(), []

    def loop():
        for alias, connection in live_server.thread.connections_override.items():
            connections[alias] = connection
        try:
            while not stop.is_set():
                run_pending(queue_names=("exports",))
                stop.wait(0.1)
        except Exception as error:  # noqa: BLE001 - reported by the test
            errors.append(error)
        finally:
            if not live_server.thread.connections_override:
                connections.close_all()

    thread = threading.Thread(target=loop, name="e2e-worker", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=120)
    assert not errors, errors


@pytest.mark.req("URS-CPY-010")
def test_a_coordinator_follows_a_background_xlsx_export_and_downloads_it(
        open_as, live_server, coordinator, clinician_b, site_a, settings):
    settings.EXPORT_JOB_TICK_ROWS = 3
    settings.EXPORT_JOB_SLOWDOWN_S = 0.25
    for number in range(1, 7):
        patient = PatientFactory(site=site_a, subject_id=f"01-0{30 + number}")
        DiagnosisFactory(patient=patient)
        full_cycle(patient)

    me = open_as(coordinator)
    page = me.page
    me.context.add_init_script(RECORD_BAR)
    page.get_by_role("navigation").get_by_role("link", name="Exports").click()
    form = page.get_by_role("form", name="Run in the background")
    form.get_by_label("Format").select_option("xlsx")
    form.get_by_role("button", name="Run in the background").click()
    expect(page.get_by_role("alert").or_(page.locator(".alert"))).to_contain_text("started in the background")
    job_file = JobFile.objects.get(owner=coordinator)
    item = page.locator(f"#job-file-{job_file.pk}")
    expect(item).to_have_attribute("data-status", "queued")  # no worker yet
    expect(item.get_by_role("status")).to_have_text("Queued")
    me.screenshots("background-export-queued")

    with worker(live_server):
        expect(item).to_have_attribute("data-status", "done", timeout=120_000)
    expect(item.get_by_role("status")).to_have_text("Ready")
    expect(item.get_by_role("button", name="Cancel")).to_be_hidden()
    shown = page.evaluate("window.__jobBar")
    states = [state for state, _value in shown]
    values = {value for _state, value in shown}
    assert states[0] == "queued" and states[-1] == "done" and "running" in states, shown
    assert len(values) >= 2, shown
    running = [int(value) for state, value in shown if state == "running" and value is not None]
    assert running and running == sorted(running) and running[-1] <= job_file.total, shown
    me.screenshots("background-export-done")

    with page.expect_download() as download:
        item.get_by_role("link", name="Download").click()
    data = Path(download.value.path()).read_bytes()
    assert download.value.suggested_filename.endswith(".xlsx")
    workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
    subjects = sorted(row[0] for row in workbook["patients"].iter_rows(min_row=2, values_only=True))
    assert subjects == [f"01-0{30 + n}" for n in range(1, 7)]
    job_file.refresh_from_db()
    assert job_file.status == JobFileStatus.DONE and job_file.done == job_file.total
    assert ExportLog.objects.get(user=coordinator).channel == "job"
    assert AccessEvent.objects.filter(kind=AccessKind.EXPORT_DOWNLOAD, user=coordinator).count() == 1

    other = open_as(clinician_b)
    url = f"/jobs/files/{job_file.pk}/download/"
    for path in (url, f"/jobs/files/{job_file.pk}/"):
        other.expect_status(path, 404)
        response = other.page.goto(path)
        assert response.status == 404, path
    assert AccessEvent.objects.filter(kind=AccessKind.EXPORT_DOWNLOAD).count() == 1
    finish("background-export", me, other)
