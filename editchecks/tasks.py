"""The edit checks' background jobs: the nightly run of every check over the cohort
(``schedules.py``), and the run of a check switched on again. Each is idempotent: a
retried run raises no second query (an open one is never duplicated) and closes nothing
twice."""

from jobs.base import job

from . import services
from .checks import BY_ID
from .models import RunTrigger


@job(max_attempts=3, atomic=False)
def run_nightly(slot=None):
    """Daily (``editchecks/schedules.py``): every check switched on, over the whole cohort,
    each check in its own transaction (one check's failure keeps the others' work)."""
    run = services.cohort_run(trigger=RunTrigger.NIGHTLY)
    return {"run": run.pk, "results": run.results}


@job(max_attempts=3, atomic=False)
def run_cohort(check_ids=None, trigger=RunTrigger.COMMAND):
    """The named checks (default: all) over the whole cohort, now."""
    checks = [BY_ID[check_id] for check_id in check_ids or () if check_id in BY_ID] or None
    run = services.cohort_run(trigger=trigger, checks=checks)
    return {"run": run.pk, "results": run.results}
