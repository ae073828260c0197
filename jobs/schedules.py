"""Periodic jobs: declared once, enqueued once per slot.

Each app lists its periodic jobs in its own ``schedules.py`` (found by
``JobsConfig.ready``)::

    from jobs.schedules import every, daily
    every("notifications.sae_escalations", minutes=10, task="notifications.tasks:check_sae_clocks")
    daily("notifications.digest", at="07:00", task="notifications.tasks:send_digests")

``manage.py run_schedules`` (a loop; one per deployment is enough, more are harmless)
enqueues each schedule's job when its slot starts, passing the slot's start as
``slot`` (ISO 8601, UTC). A :class:`jobs.models.ScheduledRun` row per (schedule, slot),
unique in the database, makes that idempotent: a second scheduler, a restart or a
catch-up after downtime never enqueues the same slot twice. A slot missed while no
scheduler ran is caught up once (the latest slot only). The jobs themselves must be
idempotent too (a retried job runs again): each says how.
"""

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils.module_loading import import_string

SCHEDULES = {}
EPOCH = datetime(2000, 1, 1, tzinfo=ZoneInfo("UTC"))


@dataclass(frozen=True)
class Schedule:
    name: str
    task: str  # "module:attribute" of a jobs.base.job
    interval: timedelta | None = None  # every ...
    at: time | None = None  # ... or daily at this local time (settings.TIME_ZONE)

    def slot(self, now: datetime) -> datetime:
        """The start of the slot ``now`` falls in (UTC)."""
        if self.interval is not None:
            return EPOCH + (now - EPOCH) // self.interval * self.interval
        zone = ZoneInfo(settings.TIME_ZONE)
        local = now.astimezone(zone)
        start = datetime.combine(local.date(), self.at, tzinfo=zone)
        if start > local:
            start = datetime.combine(local.date() - timedelta(days=1), self.at, tzinfo=zone)
        return start.astimezone(ZoneInfo("UTC"))

    def get_task(self):
        module, attribute = self.task.split(":")
        return import_string(f"{module}.{attribute}")


def every(name, *, task, minutes=0, hours=0):
    interval = timedelta(minutes=minutes, hours=hours)
    if interval <= timedelta(0):
        raise ValueError(f"Schedule {name!r}: give a positive interval.")
    return _register(Schedule(name=name, task=task, interval=interval))


def daily(name, *, task, at):
    hour, minute = (int(part) for part in at.split(":"))
    return _register(Schedule(name=name, task=task, at=time(hour, minute)))


def _register(schedule):
    if schedule.name in SCHEDULES and SCHEDULES[schedule.name] != schedule:
        raise ValueError(f"Schedule {schedule.name!r} is declared twice, differently.")
    SCHEDULES[schedule.name] = schedule
    return schedule


def enqueue_due(now, schedules=None):
    """Enqueue each schedule's job for the slot ``now`` falls in, unless that slot was
    enqueued already (by this or another scheduler). Returns the names enqueued."""
    from django.db import IntegrityError, transaction

    from .models import ScheduledRun

    enqueued = []
    for schedule in (schedules or SCHEDULES).values():
        slot = schedule.slot(now)
        try:
            with transaction.atomic():
                run = ScheduledRun.objects.create(name=schedule.name, slot=slot)
                result = schedule.get_task().enqueue(slot=slot.isoformat())
                run.task_id = str(result.id)
                run.save(update_fields=["task_id"])
        except IntegrityError:
            continue  # this slot's job is enqueued already
        enqueued.append(schedule.name)
    return enqueued


daily("jobs.prune_finished", at="03:30", task="jobs.tasks:prune_finished")
every("jobs.expire_files", minutes=15, task="jobs.tasks:expire_files")
every("jobs.recover_lost_jobs", minutes=10, task="jobs.tasks:recover_lost_jobs")
