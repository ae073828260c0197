"""Run the ready jobs in this process: what ``db_worker --batch`` does, without its
signal handlers or logging set-up. The tests' "one worker cycle", and
``run_schedules --once --run``."""

from django.utils.crypto import get_random_string
from django_tasks_db.management.commands.db_worker import Worker


def run_pending(*, max_tasks=None, queue_names=("*",), worker_id=None):
    """Run every job that is ready now (enqueued, its ``run_after`` passed), including
    those the jobs run enqueue when they are ready at once; return how many ran."""
    worker = Worker(queue_names=list(queue_names), interval=0, batch=True, backend_name="default",
                    startup_delay=False, max_tasks=max_tasks,
                    worker_id=worker_id or f"inline-{get_random_string(8)}", excluded_queue_names=[])
    worker.run()
    return worker._run_tasks
