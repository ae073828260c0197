"""Reads of the edit checks' page: every check with its switch, its queries' counts (scoped
to the user's sites) and the last nightly run, in a fixed number of queries."""

from dataclasses import dataclass

from django.db.models import Count, Q

from accounts.scoping import scope_to_user_sites
from review.models import DataQuery, QueryStatus

from .checks import CHECKS
from .models import EditCheckRun, EditCheckSetting, RunTrigger


@dataclass
class CheckRow:
    check: object
    setting: EditCheckSetting | None
    open_count: int
    closed_count: int
    last_run: dict | None  # the last nightly run's counts of this check

    @property
    def enabled(self):
        return self.setting is None or self.setting.enabled


def check_rows(*, user):
    """(rows, the last nightly run): three queries."""
    settings = {s.check_id: s for s in EditCheckSetting.objects.select_related("changed_by")}
    queries = scope_to_user_sites(DataQuery.objects.exclude(check_id=""), user, site_field="patient__site")
    counts = {row["check_id"]: row for row in queries.order_by().values("check_id").annotate(
        open=Count("pk", filter=~Q(status=QueryStatus.CLOSED)), closed=Count("pk", filter=Q(status=QueryStatus.CLOSED)))}
    last_run = EditCheckRun.objects.filter(trigger=RunTrigger.NIGHTLY).order_by("-started_at", "-pk").first()
    results = last_run.results if last_run else {}
    rows = [CheckRow(check=check, setting=settings.get(check.id),
                     open_count=counts.get(check.id, {}).get("open", 0),
                     closed_count=counts.get(check.id, {}).get("closed", 0),
                     last_run=results.get(check.id)) for check in CHECKS]
    return rows, last_run
