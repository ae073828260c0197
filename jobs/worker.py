"""Run the ready jobs in this process: what ``db_worker --batch`` does, without its
signal handlers or logging set-up. The tests' "one worker cycle", and
``run_schedules --once --run``."""

from django.db import connections
from django.utils.crypto import get_random_string
from django_tasks_db.management.commands import db_worker
from django_tasks_db.management.commands.db_worker import Worker


def run_pending(*, max_tasks=None, queue_names=("*",), worker_id=None):
    """Run every job that is ready now (enqueued, its ``run_after`` passed), including
    those the jobs run enqueue when they are ready at once; return how many ran."""
    worker = Worker(queue_names=list(queue_names), interval=0, batch=True, backend_name="default",
                    startup_delay=False, max_tasks=max_tasks,
                    worker_id=worker_id or f"inline-{get_random_string(8)}", excluded_queue_names=[])
    if not any(c.in_atomic_block for c in connections.all(initialized_only=True)):
        worker.run()
        return worker._run_tasks
    # Inside a transaction (a test's): the worker's close_old_connections() between jobs
    # would close this very connection on PostgreSQL (autocommit off is "unusable" to it).
    close = db_worker.close_old_connections
    db_worker.close_old_connections = lambda **kwargs: None
    try:
        worker.run()
    finally:
        db_worker.close_old_connections = close
    return worker._run_tasks
