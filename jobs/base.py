"""``@job``: a task of Django's Tasks API with bounded retries.

A job's body runs in one database transaction (``atomic=True``, the default): when it
raises, nothing it wrote stays. The failed attempt is kept as a FAILED task result with
its error and traceback (Django admin, "Background jobs"); while attempts remain, the
same job is enqueued again, ``retry_delay`` x attempt later, with ``_attempt`` in its
keyword arguments. The last attempt's failure is final: shown as failed, never retried.

Jobs are enqueued inside the caller's transaction on purpose: with the database
backend the job row commits or rolls back with the data that asked for it (no job for
a save that failed, no save without its job).
"""

import functools
import logging
from contextlib import nullcontext
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from django_tasks import task

logger = logging.getLogger("jobs")

ATTEMPT_KWARG = "_attempt"
DEFAULT_MAX_ATTEMPTS = 3
DEFAULT_RETRY_DELAY = timedelta(minutes=1)


class PermanentFailure(Exception):
    """Raised by a job whose input can never succeed (a record that no longer exists,
    an unknown format): failed at once, not retried."""


def job(*, max_attempts=DEFAULT_MAX_ATTEMPTS, retry_delay=DEFAULT_RETRY_DELAY, atomic=True,
        queue_name="default", priority=0):
    """Decorate a module-level function as a background job (``.enqueue(...)``,
    ``.call(...)``). Arguments must be JSON: ids and strings, never model instances."""

    def decorate(func):
        @functools.wraps(func)
        def run(*args, **kwargs):
            attempt = int(kwargs.pop(ATTEMPT_KWARG, 1))
            try:
                with transaction.atomic() if atomic else nullcontext():
                    return func(*args, **kwargs)
            except PermanentFailure:
                logger.error("Job %s failed for good (attempt %d): not retried.", func.__qualname__, attempt)
                raise
            except Exception:
                if attempt < max_attempts:
                    run_after = timezone.now() + retry_delay * attempt
                    the_task.using(run_after=run_after).enqueue(*args, **kwargs, **{ATTEMPT_KWARG: attempt + 1})
                    logger.warning("Job %s failed (attempt %d of %d); retried after %s.", func.__qualname__,
                                   attempt, max_attempts, run_after.isoformat())
                else:
                    logger.error("Job %s failed (attempt %d of %d): not retried.", func.__qualname__,
                                 attempt, max_attempts)
                raise

        run.max_attempts = max_attempts
        the_task = task(queue_name=queue_name, priority=priority)(run)
        return the_task

    return decorate


class WorkerLost(Exception):
    """The worker running a job stopped (killed, machine lost) before the job finished."""


def recover_lost(db_result, now):
    """A job left RUNNING by a worker that died: mark it FAILED ("worker lost") and, while
    attempts remain, enqueue it again like any failed attempt. True when retried."""
    lost = WorkerLost(f"Still running at {now.isoformat()}, started {db_result.started_at.isoformat()} by "
                      f"{', '.join(db_result.worker_ids) or 'an unknown worker'}: the worker stopped.")
    db_result.set_failed(lost)
    task_ = db_result.task
    kwargs = dict(db_result.args_kwargs.get("kwargs", {}))
    attempt = int(kwargs.pop(ATTEMPT_KWARG, 1))
    if attempt >= getattr(task_.func, "max_attempts", 1):
        from .files import fail_lost

        fail_lost(db_result.args_kwargs.get("args", []), error=f"WorkerLost: {lost}")  # its file, if any
        return False
    task_.enqueue(*db_result.args_kwargs.get("args", []), **kwargs, **{ATTEMPT_KWARG: attempt + 1})
    return True
