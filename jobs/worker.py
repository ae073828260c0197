"""Run the ready jobs in this process: what ``db_worker --batch`` does, without its
signal handlers or logging set-up. The tests' "one worker cycle", and
``run_schedules --once --run``."""

from contextlib import contextmanager

from django.db import connection
from django.utils.crypto import get_random_string
from django_tasks_db.management.commands import db_worker
from django_tasks_db.management.commands.db_worker import Worker


@contextmanager
def _connection_kept():
    """Inside the caller's transaction (a test's), the worker's ``close_old_connections``
    would close the connection (its autocommit differs from the settings') and lose that
    transaction: PostgreSQL then fails with "connection already closed" (SQLite's test
    database ignores the close). Outside a transaction nothing changes."""
    if not connection.in_atomic_block:
        yield
        return
    original = db_worker.close_old_connections
    db_worker.close_old_connections = lambda **kwargs: None
    try:
        yield
    finally:
        db_worker.close_old_connections = original


def run_pending(*, max_tasks=None, queue_names=("*",), worker_id=None):
    """Run every job that is ready now (enqueued, its ``run_after`` passed), including
    those the jobs run enqueue when they are ready at once; return how many ran."""
    worker = Worker(queue_names=list(queue_names), interval=0, batch=True, backend_name="default",
                    startup_delay=False, max_tasks=max_tasks,
                    worker_id=worker_id or f"inline-{get_random_string(8)}", excluded_queue_names=[])
    with _connection_kept():
        worker.run()
    return worker._run_tasks
