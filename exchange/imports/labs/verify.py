"""After the load, inside its transaction: what is stored is what the dry run showed.

Each written assessment is read back (one query for all, and one for their history):
every planned value is stored as planned, the version moved on by one, and the newest
history row carries the import's reason and user. A difference is an error on the
row, so the whole import is rolled back (it would mean a service changed the values
on the way, which the user did not confirm).
"""

from django.utils.translation import gettext as _

from visits.models import Assessment

from .load import RowIssue
from .parse import SUBJECT


def verify(plan, *, reason, user):
    rows = plan.to_write
    if not rows:
        return
    stored = Assessment.objects.in_bulk([row.assessment_pk for row in rows])
    newest = {}
    for history in (Assessment.history.filter(id__in=list(stored)).order_by("id", "-history_id")
                    .values("id", "history_change_reason", "history_user_id")):
        newest.setdefault(history["id"], history)
    for row in rows:
        assessment = stored[row.assessment_pk]
        for change in row.changes:
            value = getattr(assessment, change.field)
            if value is None or value != change.new:
                row.issues.append(RowIssue(row.row, change.column, _(
                    "%(value)s was stored, not %(planned)s.") % {"value": value, "planned": change.new}))
        history = newest.get(row.assessment_pk) or {}
        if (assessment.version != row.version + 1 or history.get("history_change_reason") != reason
                or history.get("history_user_id") != getattr(user, "pk", None)):
            row.issues.append(RowIssue(row.row, plan.mapping[SUBJECT], _(
                "The change was not recorded with the import's reason and user.")))
