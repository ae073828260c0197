"""Jobs for tests/jobs only (importable by path, as the worker needs)."""

from datetime import timedelta

from accounts.models import Site
from jobs.base import PermanentFailure, job

CALLS = []


@job(max_attempts=3, retry_delay=timedelta(0))
def write_then_fail(code, fail_times=99):
    """Writes a site, then fails while attempts < fail_times: the write must not stay."""
    CALLS.append(code)
    Site.objects.create(code=f"{code}{len(CALLS)}", name="written by a job")
    if len(CALLS) <= fail_times:
        raise RuntimeError(f"failure number {len(CALLS)}")
    return {"calls": len(CALLS)}


@job(max_attempts=3, retry_delay=timedelta(0))
def refuse(code):
    CALLS.append(code)
    raise PermanentFailure(f"{code} can never succeed")


@job(max_attempts=1)
def tick(slot=None):
    CALLS.append(slot)
