"""``{% next_cycle patient %}``: a patient's next cycle (planned date, window, and
whether it is not yet due, in its window or overdue, with how many days late), from
the facts stored on the patient (``visits.rules.next_cycle``), judged against today
by ``visits.rules.schedule_state``. No query: the patient row carries the facts."""

from django import template
from django.utils import timezone

from visits import rules

register = template.Library()


def _get(row, name):
    return row.get(name) if isinstance(row, dict) else getattr(row, name, None)


def schedule_of(row, today=None):
    """The next cycle of a patient (a ``Patient`` or a ``values()`` dict with the stored
    schedule columns): planned date, window and its ``state`` against ``today``."""
    start, end = _get(row, "next_cycle_window_start_date"), _get(row, "next_cycle_window_end_date")
    return {
        "planned": _get(row, "next_cycle_planned_date"), "window_start": start, "window_end": end,
        "state": rules.schedule_state(window_start=start, window_end=end, today=today or timezone.localdate()),
        "statuses": rules.ScheduleStatus,
    }


@register.inclusion_tag("visits/includes/_next_cycle.html")
def next_cycle(row, compact=False, today=None):
    """The schedule cell (``compact``: for a table) or paragraph of one patient."""
    return {**schedule_of(row, today), "compact": compact}
