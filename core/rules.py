"""A rule violation as plain data, so ``rules.py`` modules stay free of Django.

Rules return a list of :class:`Violation`; ``Model.clean()`` turns that list
into one ``ValidationError`` keyed by field (see ``core.validation``).
"""

from dataclasses import dataclass
from datetime import date

from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class Violation:
    field: str  # model field name, or "__all__" for a record-level error
    code: str
    message: str


def future_date(field, value, today, what=None):
    """A violation when ``value`` lies after ``today`` (None is not checked). ``what``
    names the date, a translatable message ("The consent date")."""
    if value is not None and value > today:
        return [Violation(field, "in_future", _("%(what)s cannot be in the future.") % {
            "what": what or _("The date")})]
    return []


def completed_years(born: date, on: date) -> int:
    """Whole years from ``born`` to ``on`` (a birthday counts on the day)."""
    years = on.year - born.year
    if (on.month, on.day) < (born.month, born.day):
        years -= 1
    return years
