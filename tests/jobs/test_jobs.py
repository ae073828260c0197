"""Background jobs (jobs/): bounded retries, nothing half-written, the failure kept with its
error; periodic schedules enqueued once per slot."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.urls import reverse
from django_tasks_db.models import DBTaskResult

from accounts.models import Site
from jobs.models import ScheduledRun
from jobs.schedules import Schedule, enqueue_due
from jobs.worker import run_pending

from . import sample_jobs

pytestmark = pytest.mark.django_db

UTC = ZoneInfo("UTC")


@pytest.fixture(autouse=True)
def _calls():
    sample_jobs.CALLS.clear()
    yield
    sample_jobs.CALLS.clear()


@pytest.mark.req("URS-INC-004")
def test_a_failing_job_is_retried_a_bounded_number_of_times_then_shown_failed_with_its_error():
    sample_jobs.write_then_fail.enqueue("Z")
    ran = run_pending()
    assert ran == 3 and len(sample_jobs.CALLS) == 3
    results = list(DBTaskResult.objects.order_by("enqueued_at"))
    assert [r.status for r in results] == ["FAILED"] * 3
    assert [r.args_kwargs["kwargs"].get("_attempt", 1) for r in results] == [1, 2, 3]
    assert "failure number 3" in results[-1].traceback
    assert not Site.objects.filter(name="written by a job").exists()  # nothing half-written


@pytest.mark.req("URS-INC-004")
def test_a_job_that_succeeds_on_a_retry_keeps_only_that_attempts_writes():
    sample_jobs.write_then_fail.enqueue("Y", fail_times=1)
    run_pending()
    statuses = list(DBTaskResult.objects.order_by("enqueued_at").values_list("status", flat=True))
    assert statuses == ["FAILED", "SUCCESSFUL"]
    assert list(Site.objects.filter(name="written by a job").values_list("code", flat=True)) == ["Y2"]


def test_a_permanent_failure_is_not_retried():
    sample_jobs.refuse.enqueue("X")
    assert run_pending() == 1
    assert DBTaskResult.objects.get().status == "FAILED"


@pytest.mark.req("URS-INC-004")
def test_the_admin_lists_failed_jobs_with_their_error(admin_client):
    sample_jobs.refuse.enqueue("X")
    run_pending()
    page = admin_client.get(reverse("admin:django_tasks_database_dbtaskresult_changelist") + "?status__exact=FAILED")
    assert page.status_code == 200
    assert b"can never succeed" in page.content and b"refuse" in page.content


def test_a_schedule_is_enqueued_once_per_slot_however_often_it_is_checked():
    schedule = Schedule(name="test.tick", task="tests.jobs.sample_jobs:tick", interval=timedelta(minutes=10))
    now = datetime(2026, 12, 2, 9, 3, tzinfo=UTC)
    assert enqueue_due(now, {"t": schedule}) == ["test.tick"]
    assert enqueue_due(now + timedelta(minutes=5), {"t": schedule}) == []  # same slot, another scheduler
    assert enqueue_due(now + timedelta(minutes=8), {"t": schedule}) == ["test.tick"]  # next slot
    assert ScheduledRun.objects.count() == 2
    run_pending()
    assert sample_jobs.CALLS == ["2026-12-02T09:00:00+00:00", "2026-12-02T09:10:00+00:00"]


def test_a_daily_schedule_runs_at_its_local_time(settings):
    settings.TIME_ZONE = "Europe/Paris"
    schedule = Schedule(name="d", task="tests.jobs.sample_jobs:tick", at=datetime(2000, 1, 1, 7, 0).time())
    # 05:59 UTC is 06:59 in Paris (winter): still yesterday's slot.
    assert schedule.slot(datetime(2026, 12, 2, 5, 59, tzinfo=UTC)) == datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
    assert schedule.slot(datetime(2026, 12, 2, 6, 0, tzinfo=UTC)) == datetime(2026, 12, 2, 6, 0, tzinfo=UTC)


def test_run_schedules_once_enqueues_the_declared_schedules():
    call_command("run_schedules", "--once")
    assert ScheduledRun.objects.filter(name="jobs.prune_finished").count() == 1
    call_command("run_schedules", "--once")
    assert ScheduledRun.objects.filter(name="jobs.prune_finished").count() == 1


@pytest.mark.req("URS-INC-004")
def test_a_job_whose_worker_died_is_failed_and_retried(settings):
    from django.utils import timezone

    from jobs.tasks import recover_lost_jobs

    settings.JOB_LOST_AFTER_MINUTES = 60
    sample_jobs.write_then_fail.enqueue("W", fail_times=0)
    db_result = DBTaskResult.objects.get()
    db_result.claim("worker-that-died")  # RUNNING, then its process was killed
    DBTaskResult.objects.filter(pk=db_result.pk).update(started_at=timezone.now() - timedelta(minutes=61))
    fresh = sample_jobs.tick.enqueue()
    DBTaskResult.objects.get(pk=fresh.id).claim("a-live-worker")  # running for a second: left alone
    assert recover_lost_jobs.call() == {"lost": 1, "retried": 1}
    db_result.refresh_from_db()
    assert db_result.status == "FAILED" and "worker-that-died" in db_result.traceback
    run_pending()
    assert list(Site.objects.filter(name="written by a job").values_list("code", flat=True)) == ["W1"]
    assert DBTaskResult.objects.get(pk=fresh.id).status == "RUNNING"


def test_a_file_job_whose_worker_died_on_its_last_attempt_shows_its_file_failed(settings):
    """Not "running" for ever (its bar stuck, its cancel doing nothing): failed, with the error."""
    from django.contrib.auth.models import User
    from django.utils import timezone

    from exchange.tasks import export_file
    from jobs import files
    from jobs.models import JobFileStatus
    from jobs.tasks import recover_lost_jobs

    settings.JOB_LOST_AFTER_MINUTES = 60
    owner = User.objects.create_user("owner")
    job_file = files.create(kind="export", owner=owner, label="lost", params={"format": "csv"})
    other = files.create(kind="export", owner=owner, label="still running", params={"format": "csv"})
    export_file.enqueue(str(job_file.pk), _attempt=export_file.func.max_attempts)  # the last attempt
    db_result = DBTaskResult.objects.get()
    db_result.claim("worker-that-died")
    DBTaskResult.objects.filter(pk=db_result.pk).update(started_at=timezone.now() - timedelta(minutes=61))
    type(job_file).objects.filter(pk__in=[job_file.pk, other.pk]).update(status=JobFileStatus.RUNNING)
    assert recover_lost_jobs.call() == {"lost": 1, "retried": 0}
    job_file.refresh_from_db()
    other.refresh_from_db()
    assert job_file.status == JobFileStatus.FAILED and "worker-that-died" in job_file.error
    assert job_file.finished_at is not None
    assert other.status == JobFileStatus.RUNNING
    assert files.fail_lost([7], error="x") == 0 and files.fail_lost([], error="x") == 0
