"""Files made by background jobs (:class:`jobs.models.JobFile`): one place for how they
are started, report progress, are cancelled, stored, downloaded and expire.

A kind (``register_kind``) says who besides the owner may see a file and what a
download writes to the audit trail; the app that makes the files registers it in its
``AppConfig.ready``. A job that makes a file calls :func:`produce`::

    @job(max_attempts=2, atomic=False)
    def export_file(job_file_id):
        produce(job_file_id, lambda job_file, progress: (chunks, "name.xlsx", "application/..."))

``chunks`` is an iterable of bytes; the producer calls ``progress(done, total)`` as it
goes: at most every ``PROGRESS_INTERVAL`` seconds the count is written (its own
autocommitted UPDATE, so the page sees it while the job runs) and a cancel request is
read back, raising :class:`Cancelled`. The file is written to a temporary file while its
SHA-256 is computed, then saved through the storage API in one step: a failed or
cancelled job leaves no partial file in the storage.
"""

import hashlib
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Callable

from django.core.files import File
from django.core.files.storage import default_storage
from django.utils import timezone

from .models import JobFile, JobFileStatus

PROGRESS_INTERVAL = 0.5  # seconds between two progress writes (the page polls every second)


class Cancelled(Exception):
    """The owner asked to stop the job."""


@dataclass(frozen=True)
class Kind:
    name: str
    #: ``(user, job_file) -> bool``: may this user other than the owner see and download it?
    #: The owner must still hold the kind's permission at download time: ``owner_may``.
    others_may: Callable = lambda user, job_file: False
    #: ``(user, job_file) -> bool``: does the owner still hold the right to it (role, site)?
    owner_may: Callable = lambda user, job_file: True
    #: ``(request, job_file) -> None``: write the download to the audit trail.
    on_download: Callable = lambda request, job_file: None
    retention: timedelta = timedelta(hours=24)
    #: ``(job_file) -> str``: the file's label in the active language, from its stored
    #: parameters (None: the stored ``label``, as written).
    describe: Callable | None = None


KINDS: dict[str, Kind] = {}


def register_kind(kind: Kind):
    KINDS[kind.name] = kind
    return kind


def may_access(user, job_file) -> bool:
    """The owner while they still hold the right to the file; others as the kind allows.
    Everyone else gets a 404 (never learns the file exists)."""
    if not getattr(user, "is_authenticated", False):
        return False
    kind = KINDS.get(job_file.kind)
    if kind is None:
        return False
    if job_file.owner_id == user.pk:
        return bool(kind.owner_may(user, job_file))
    return bool(kind.others_may(user, job_file))


def create(*, kind, owner, label, params=None, site=None, unit="rows", total=None):
    if kind not in KINDS:
        raise ValueError(f"Unknown job file kind {kind!r}.")
    return JobFile.objects.create(kind=kind, owner=owner, label=label[:200], params=params or {}, site=site,
                                  unit=unit, total=total)


class Progress:
    """``progress(done, total=None)``: throttled writes of the count; raises Cancelled."""

    def __init__(self, job_file_id, interval=PROGRESS_INTERVAL):
        self.job_file_id = job_file_id
        self.interval = interval
        self._last = None
        self.done = 0
        self.total = None

    def __call__(self, done, total=None, *, force=False):
        self.done = done
        if total is not None:
            self.total = total
        now = time.monotonic()
        if not force and self._last is not None and now - self._last < self.interval:
            return
        self._last = now
        changes = {"done": done, "progress_at": timezone.now()}
        if self.total is not None:
            changes["total"] = self.total
        JobFile.objects.filter(pk=self.job_file_id).update(**changes)
        if JobFile.objects.filter(pk=self.job_file_id, cancel_requested=True).exists():
            raise Cancelled()


def produce(job_file_id, producer, *, interval=PROGRESS_INTERVAL):
    """Run ``producer(job_file, progress) -> (chunks, filename, content_type)`` and keep
    the file. Returns a small summary (the job's result). A cancelled, expired or
    finished file is left alone (a retried or duplicated job does nothing twice)."""
    job_file = JobFile.objects.get(pk=job_file_id)
    if job_file.status not in (JobFileStatus.QUEUED, JobFileStatus.RUNNING, JobFileStatus.FAILED):
        return {"status": job_file.status, "skipped": True}
    if job_file.cancel_requested:
        JobFile.objects.filter(pk=job_file.pk).update(status=JobFileStatus.CANCELLED, finished_at=timezone.now())
        return {"status": JobFileStatus.CANCELLED}
    JobFile.objects.filter(pk=job_file.pk).update(status=JobFileStatus.RUNNING, started_at=timezone.now(),
                                                  error="", done=0)
    progress = Progress(job_file.pk, interval)
    try:
        chunks, filename, content_type = producer(job_file, progress)
        digest = hashlib.sha256()
        size = 0
        with tempfile.TemporaryFile() as spool:
            for chunk in chunks:
                spool.write(chunk)
                digest.update(chunk)
                size += len(chunk)
            progress(progress.done, force=True)  # a last cancel check before the file is kept
            spool.seek(0)
            name = default_storage.save(f"jobs/{job_file.kind}/{job_file.pk}/{filename}", File(spool, name=filename))
    except Cancelled:
        JobFile.objects.filter(pk=job_file.pk).update(status=JobFileStatus.CANCELLED, finished_at=timezone.now())
        return {"status": JobFileStatus.CANCELLED}
    except Exception as exc:
        JobFile.objects.filter(pk=job_file.pk).update(status=JobFileStatus.FAILED, finished_at=timezone.now(),
                                                      error=f"{type(exc).__name__}: {exc}"[:2000])
        raise
    finished = timezone.now()
    retention = KINDS[job_file.kind].retention
    updated = JobFile.objects.filter(pk=job_file.pk, cancel_requested=False).update(
        status=JobFileStatus.DONE, storage_name=name, filename=filename, content_type=content_type, size=size,
        sha256=digest.hexdigest(), finished_at=finished, expires_at=finished + retention,
        done=progress.done, total=progress.total if progress.total is not None else progress.done)
    if not updated:  # cancelled between the last check and now: the file goes
        default_storage.delete(name)
        JobFile.objects.filter(pk=job_file.pk).update(status=JobFileStatus.CANCELLED, finished_at=finished)
        return {"status": JobFileStatus.CANCELLED}
    return {"status": JobFileStatus.DONE, "size": size, "sha256": digest.hexdigest()}


def request_cancel(job_file):
    """Ask the job to stop; a queued one is cancelled at once. True when something changed."""
    if not job_file.is_active:
        return False
    JobFile.objects.filter(pk=job_file.pk).update(cancel_requested=True)
    JobFile.objects.filter(pk=job_file.pk, status=JobFileStatus.QUEUED).update(
        status=JobFileStatus.CANCELLED, finished_at=timezone.now())
    return True


def expire(now=None):
    """Delete the stored files whose time is up (status "expired"; the row stays as a
    record of what was made, with its SHA-256). Idempotent."""
    now = now or timezone.now()
    expired = 0
    for job_file in JobFile.objects.filter(status=JobFileStatus.DONE, expires_at__lte=now):
        if job_file.storage_name:
            default_storage.delete(job_file.storage_name)
        JobFile.objects.filter(pk=job_file.pk, status=JobFileStatus.DONE).update(status=JobFileStatus.EXPIRED)
        expired += 1
    return expired


def fail_lost(args, *, error):
    """The job of a file (its first argument the file's id) died with its worker and is
    not retried (``jobs.base.recover_lost``): the file is shown failed with the error,
    not "running" for ever. Other jobs' arguments are left alone. Returns 0 or 1."""
    try:
        pk = uuid.UUID(str(args[0]))
    except (IndexError, ValueError, TypeError, AttributeError):
        return 0
    return JobFile.objects.filter(pk=pk, status__in=(JobFileStatus.QUEUED, JobFileStatus.RUNNING)).update(
        status=JobFileStatus.FAILED, finished_at=timezone.now(), error=error[:2000])
