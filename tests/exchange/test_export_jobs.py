"""Exports run in the background (issue 15, part 4): the job writes the same file as the
streamed download, counts its rows as the writer pulls them from the datasets, can be
cancelled, is downloaded by its owner only (a 404 for anyone else), is logged like every
export (channel "job") with its download an access event, and expires."""

import io
import zipfile
from datetime import datetime, timedelta, timezone as dt_timezone

import openpyxl
import pytest
from django.contrib.auth.models import User
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.urls import reverse

from accounts.models import Site
from exchange import datasets, tasks
from exchange.exports import FORMATS, tabular
from exchange.services import export_cohort, export_job_start
from jobs import files
from jobs.models import JobFile, JobFileStatus
from jobs.worker import run_pending
from oversight.models import AccessEvent, AccessKind
from reporting.models import ExportLog
from tests.conftest import _user_with_role

pytestmark = pytest.mark.django_db

FIXED_NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=dt_timezone.utc)
#: XLSX members that carry the time the workbook was written.
TIMESTAMPED_MEMBERS = {"docProps/core.xml"}


@pytest.fixture
def demo(settings):
    settings.DEBUG = True
    call_command("seed_demo", verbosity=0)


@pytest.fixture
def coordinator_user(demo):
    return User.objects.get(username="coordinator")


@pytest.fixture
def clinician_02(demo):
    return _user_with_role("clinician", Site.objects.get(code="02"), username="clinician-02")


def _cohort_rows(user):
    return sum(datasets.row_counts(datasets.cohort(user=user)).values())


def _run(user, format_name, **filters):
    job_file = export_job_start(user=user, format_name=format_name, **filters)
    assert run_pending(queue_names=("exports",)) == 1
    job_file.refresh_from_db()
    return job_file


def _same_content(a, b, name):
    """The two files are the same but for the times written inside (zip member dates,
    the workbook's creation time; those inside ODM, SDTM and FHIR are frozen)."""
    if not a.startswith(b"PK"):
        assert a == b, name
        return
    left, right = zipfile.ZipFile(io.BytesIO(a)), zipfile.ZipFile(io.BytesIO(b))
    assert left.namelist() == right.namelist(), name
    for member in left.namelist():
        if member not in TIMESTAMPED_MEMBERS:
            assert left.read(member) == right.read(member), f"{name}: {member}"


@pytest.mark.parametrize("format_name", sorted(FORMATS))
@pytest.mark.req("URS-CPY-010")
def test_the_job_writes_the_same_file_as_the_streamed_export(format_name, coordinator_user, monkeypatch):
    monkeypatch.setattr("django.utils.timezone.now", lambda: FIXED_NOW)
    _log, _format, chunks = export_cohort(format_name=format_name, user=coordinator_user)
    streamed = b"".join(chunks)
    job_file = _run(coordinator_user, format_name)
    assert job_file.status == JobFileStatus.DONE, job_file.error
    stored = default_storage.open(job_file.storage_name).read()
    _same_content(stored, streamed, format_name)
    assert job_file.size == len(stored) and job_file.content_type == FORMATS[format_name].content_type
    assert job_file.filename.endswith(f".{FORMATS[format_name].extension}")
    # Every row of the cohort, counted; the total was the cohort's row count.
    assert job_file.done == job_file.total == _cohort_rows(coordinator_user) > 100


@pytest.mark.parametrize("format_name", sorted(FORMATS))
def test_progress_counts_the_rows_the_writer_pulls_from_the_datasets(format_name, coordinator_user):
    """Each writer's rows tick the counter as it goes (several distinct values before the
    end), never past a table's count, whatever the writer does with them."""
    patients = datasets.cohort(user=coordinator_user)
    totals = datasets.row_counts(patients)
    seen = []
    counter = datasets.RowCounter(totals=totals, on_tick=seen.append, tick_rows=10)
    with datasets.counting_rows(counter):
        for _chunk in FORMATS[format_name].stream(patients):
            pass
    assert len(set(seen)) >= 3, seen
    assert seen == sorted(seen) and seen[-1] <= sum(totals.values())
    assert counter.counts, "no table counted"
    # Every table a writer reads through the datasets is counted in full (at most once).
    for name, count in counter.counts.items():
        assert min(count, totals[name]) == totals[name], (name, count)


def test_outside_a_job_the_rows_are_not_wrapped(coordinator_user):
    rows = datasets.patient_tuples(datasets.cohort())
    assert type(rows).__name__ == "generator" and rows.gi_code.co_name != "count"
    counter = datasets.RowCounter(tick_rows=4)
    with datasets.counting_rows(counter):
        counted = list(datasets.TABLES_BY_NAME["patients"].tuples(datasets.cohort()))
    assert len(counted) == 11 and counter.counts["patients"] == 11


def test_csv_on_copy_ticks_each_table_when_written(coordinator_user):
    """PostgreSQL writes the large tables' CSV itself (COPY): each counts whole when
    written (on SQLite the rows go through Python and tick in batches: same result)."""
    patients = datasets.cohort(user=coordinator_user)
    totals = datasets.row_counts(patients)
    counter = datasets.RowCounter(totals=totals, tick_rows=7)
    with datasets.counting_rows(counter):
        b"".join(tabular.csv_zip(patients))
    assert {name: counter.counts[name] for name in totals} == totals
    table = datasets.TABLES_BY_NAME["cycles"]
    counter = datasets.RowCounter(totals=totals)
    with datasets.counting_rows(counter):
        written = datasets.table_written(table, iter([b"a", b"b"]))
        assert next(written) == b"a" and counter.done == 0
        assert list(written) == [b"b"] and counter.done == totals["cycles"]


@pytest.mark.req("URS-CPY-010")
def test_a_job_started_is_logged_with_channel_job_and_its_download_is_an_access_event(
        client, coordinator_user):
    site = Site.objects.get(code="01")
    job_file = _run(coordinator_user, "xlsx", site=site, diagnosis="DM")
    log = ExportLog.objects.get()
    assert (log.user, log.format, log.channel) == (coordinator_user, "xlsx", "job")
    assert log.filters == {"site": "01", "diagnosis": "DM"}
    assert log.row_counts == datasets.row_counts(datasets.cohort(user=coordinator_user, site=site, diagnosis="DM"))
    assert job_file.params["export_log"] == log.pk and job_file.site == site
    assert job_file.total == sum(log.row_counts.values()) == job_file.done
    assert not AccessEvent.objects.filter(kind=AccessKind.EXPORT_DOWNLOAD).exists()

    client.force_login(coordinator_user)
    response = client.get(reverse("jobs:file_download", args=[job_file.pk]))
    assert response.status_code == 200
    workbook = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content)), read_only=True)
    subjects = [row[0] for row in workbook["patients"].iter_rows(min_row=2, values_only=True)]
    assert subjects and all(s.startswith("01-") for s in subjects)
    event = AccessEvent.objects.get(kind=AccessKind.EXPORT_DOWNLOAD)
    assert event.user == coordinator_user
    assert event.detail["file"] == str(job_file.pk) and event.detail["export_log"] == log.pk
    assert event.detail["sha256"] == job_file.sha256 and event.detail["format"] == "xlsx"
    assert event.detail["filters"] == {"site": "01", "diagnosis": "DM"}
    assert ExportLog.objects.count() == 1  # the download is not a second export


@pytest.mark.req("URS-SEC-003")
def test_only_the_owner_downloads_and_a_clinician_of_another_site_gets_404(client, coordinator_user,
                                                                            clinician_02):
    job_file = _run(coordinator_user, "csv")
    other_coordinator = _user_with_role("coordinator", username="coordinator-2")
    admin = User.objects.get(username="admin")
    for user in (clinician_02, other_coordinator, admin):
        client.force_login(user)
        for name in ("jobs:file_download", "jobs:file_status"):
            assert client.get(reverse(name, args=[job_file.pk])).status_code == 404, (user, name)
    assert not AccessEvent.objects.filter(kind=AccessKind.EXPORT_DOWNLOAD).exists()
    client.force_login(coordinator_user)
    assert client.get(reverse("jobs:file_status", args=[job_file.pk])).json()["status"] == "done"


@pytest.mark.req("URS-SEC-003")
def test_the_owner_who_lost_the_export_role_or_the_site_gets_404(client, demo):
    site = Site.objects.get(code="01")
    owner = _user_with_role("admin", username="admin-owner")  # the admin role exports too
    job_file = _run(owner, "fhir", site=site)
    url = reverse("jobs:file_download", args=[job_file.pk])
    client.force_login(owner)
    assert client.get(url).status_code == 200
    owner.memberships.update(role="monitor")  # monitors may not export
    client.force_login(owner)
    assert client.get(url).status_code == 404


def test_cancel_stops_the_job_and_keeps_no_file(coordinator_user, settings):
    settings.EXPORT_JOB_TICK_ROWS = 5
    job_file = export_job_start(user=coordinator_user, format_name="odm")
    real = files.Progress.__call__

    def cancel_midway(progress, done, total=None, *, force=False):
        if done >= 20:
            files.request_cancel(JobFile.objects.get(pk=job_file.pk))
        return real(progress, done, total, force=True)

    from unittest import mock
    with mock.patch.object(files.Progress, "__call__", cancel_midway):
        run_pending(queue_names=("exports",))
    job_file.refresh_from_db()
    assert job_file.status == JobFileStatus.CANCELLED and not job_file.storage_name
    assert 20 <= job_file.done < job_file.total
    assert not default_storage.exists(f"jobs/export/{job_file.pk}")


def test_starting_from_the_page_validates_like_the_download(client, coordinator_user, clinician_02):
    client.force_login(coordinator_user)
    url = reverse("exchange:export_job_start")
    assert client.post(url, {"format": "pdf"}).status_code == 400
    assert client.post(url, {"format": "csv", "site": "99"}).status_code == 400
    assert not JobFile.objects.exists()
    response = client.post(url, {"format": "sdtm", "site": "02", "diagnosis": ""})
    assert response.status_code == 302 and response["Location"].endswith("/exports/#job-files")
    job_file = JobFile.objects.get()
    assert (job_file.kind, job_file.owner, job_file.site.code, job_file.status) == (
        "export", coordinator_user, "02", JobFileStatus.QUEUED)
    assert job_file.total == sum(datasets.row_counts(datasets.cohort(site="02")).values())
    assert job_file.task_id
    page = client.get(reverse("exchange:exports"))
    assert page.status_code == 200
    html = page.content.decode()
    assert f'id="job-file-{job_file.pk}"' in html and 'data-active="true"' in html
    assert reverse("jobs:file_cancel", args=[job_file.pk]) in html and "<progress" in html
    client.force_login(clinician_02)  # no export permission
    assert client.post(url, {"format": "csv"}).status_code == 403


def test_the_page_shows_done_failed_and_expired_files(client, coordinator_user):
    done = _run(coordinator_user, "csv")
    failed = files.create(kind="export", owner=coordinator_user, label="broken", params={"format": "csv"})
    JobFile.objects.filter(pk=failed.pk).update(status=JobFileStatus.FAILED, error="RuntimeError: disk full")
    expired = _run(coordinator_user, "fhir")
    assert files.expire(now=expired.expires_at) == 2  # both finished files
    assert not default_storage.exists(expired.storage_name)
    done.refresh_from_db()
    client.force_login(coordinator_user)
    html = client.get(reverse("exchange:exports")).content.decode()
    assert "RuntimeError: disk full" in html and html.count("Expired (file deleted)") == 2
    assert reverse("jobs:file_download", args=[done.pk]) not in html  # expired: no link
    assert client.get(reverse("jobs:file_download", args=[done.pk])).status_code == 404


def test_files_expire_after_the_configured_retention(coordinator_user, settings):
    settings.EXPORT_FILE_RETENTION_HOURS = 3
    tasks.register()  # the kind reads the setting when it is registered (at start-up)
    try:
        job_file = _run(coordinator_user, "csv")
        assert job_file.expires_at - job_file.finished_at == timedelta(hours=3)
        assert files.expire(now=job_file.expires_at - timedelta(seconds=1)) == 0
        assert files.expire(now=job_file.expires_at) == 1
        job_file.refresh_from_db()
        assert job_file.status == JobFileStatus.EXPIRED and not default_storage.exists(job_file.storage_name)
    finally:
        settings.EXPORT_FILE_RETENTION_HOURS = 24
        tasks.register()


def test_a_study_wide_export_is_not_downloaded_by_its_owner_after_losing_one_of_its_sites(client, demo):
    """A file without a site filter holds the patients of every site the owner had when
    it was made: losing one of those sites loses the file (404), not only the role.
    (Only study-wide roles export by default; a study may grant a site role the export
    permission through its Group.)"""
    from django.contrib.auth.models import Group, Permission

    from tests.accounts.factories import MembershipFactory

    Group.objects.get(name="investigator").permissions.add(
        Permission.objects.get(content_type__app_label="reporting", codename="export_cohort"))
    site_01, site_02 = Site.objects.get(code="01"), Site.objects.get(code="02")
    owner = _user_with_role("investigator", site_01, username="investigator-two-sites")
    MembershipFactory(user=owner, role="investigator", site=site_02)
    job_file = _run(owner, "csv")
    assert sorted(job_file.params["site_ids"]) == sorted([site_01.pk, site_02.pk])
    url = reverse("jobs:file_download", args=[job_file.pk])
    client.force_login(owner)
    assert client.get(url).status_code == 200
    owner.memberships.filter(site=site_02).delete()
    client.force_login(owner)
    assert client.get(url).status_code == 404
    assert client.get(reverse("jobs:file_status", args=[job_file.pk])).status_code == 404
