"""The jobs app's own periodic job: keep the job table small."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from .base import job


@job(max_attempts=2)
def prune_finished(slot=None):
    """Delete the results of jobs that succeeded more than JOB_RESULT_RETENTION_DAYS ago
    (failed ones stay for the admin to read). Idempotent."""
    cutoff = timezone.now() - timedelta(days=settings.JOB_RESULT_RETENTION_DAYS)
    deleted, _ = DBTaskResult.objects.successful().filter(finished_at__lt=cutoff).delete()
    return {"deleted": deleted}


@job(max_attempts=2, atomic=False)
def expire_files(slot=None):
    """Delete the files of background jobs past their retention (``jobs.files.expire``)."""
    from .files import expire

    return {"expired": expire()}


@job(max_attempts=1)
def recover_lost_jobs(slot=None):
    """Jobs RUNNING for longer than JOB_LOST_AFTER_MINUTES: their worker died (a killed
    container, a lost machine). Failed with "worker lost" and retried while attempts
    remain; the jobs are idempotent, so a job that was in fact half done is safe to rerun."""
    from .base import recover_lost

    now = timezone.now()
    lost = DBTaskResult.objects.filter(status="RUNNING",
                                       started_at__lt=now - timedelta(minutes=settings.JOB_LOST_AFTER_MINUTES))
    results = [recover_lost(db_result, now) for db_result in lost.select_for_update(skip_locked=True)]
    return {"lost": len(results), "retried": sum(results)}
