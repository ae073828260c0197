import logging
import signal
import time

from django.core.management.base import BaseCommand
from django.db import close_old_connections, connection
from django.utils import timezone

from jobs.schedules import SCHEDULES, enqueue_due

logger = logging.getLogger("jobs")


class Command(BaseCommand):
    help = ("Enqueue the periodic jobs (each app's schedules.py) when their slot starts; "
            "the db_worker processes run them. Idempotent: one job per schedule and slot, "
            "however many schedulers run.")

    def add_arguments(self, parser):
        parser.add_argument("--interval", type=float, default=30.0,
                            help="Seconds between two checks of the schedules (default 30).")
        parser.add_argument("--once", action="store_true", help="Check once, then exit.")

    def handle(self, *, interval, once, **options):
        names = ", ".join(sorted(SCHEDULES)) or "none"
        self.stdout.write(f"Schedules: {names}.")
        running = True

        def stop(signum, frame):
            nonlocal running
            running = False

        if not once:
            signal.signal(signal.SIGTERM, stop)
            signal.signal(signal.SIGINT, stop)
        while True:
            if not connection.in_atomic_block:  # (inside a test's transaction it would close it)
                close_old_connections()
            for name in enqueue_due(timezone.now()):
                self.stdout.write(f"Enqueued {name}.")
            if once or not running:
                return
            deadline = time.monotonic() + interval
            while running and time.monotonic() < deadline:
                time.sleep(min(1.0, interval))
            if not running:
                return
