"""Run the ready jobs in this process: what one ``db_worker --batch`` does (claim the
next ready job under a row lock, run it, record its result), without the worker's
signal handlers, logging set-up, sleeps, or ``close_old_connections`` (which would
close a test's connection inside its transaction). The tests' "one worker cycle"."""

from django.utils.crypto import get_random_string
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult
from django_tasks_db.utils import exclusive_transaction


def run_pending(*, max_tasks=None, queue_names=("*",), worker_id=None):
    """Run every job that is ready now (enqueued, its ``run_after`` passed) on these queues
    (``"*"``: all), including those the jobs enqueue that are ready at once; return how many ran."""
    worker = Worker(queue_names=list(queue_names), interval=0, batch=True, backend_name="default", startup_delay=False,
                    max_tasks=max_tasks, worker_id=worker_id or f"inline-{get_random_string(8)}",
                    excluded_queue_names=[])
    ran = 0
    while max_tasks is None or ran < max_tasks:
        ready = DBTaskResult.objects.ready().filter(backend_name=worker.backend_name)
        if not worker.process_all_queues:
            ready = ready.filter(queue_name__in=worker.queue_names)
        with exclusive_transaction(ready.db):
            db_result = ready.get_locked()
            if db_result is not None:
                db_result.claim(worker.worker_id)
        if db_result is None:
            return ran
        worker.run_task(db_result)
        ran += 1
    return ran
