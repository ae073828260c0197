"""The daily digest of one user: overdue cycles of their sites and cycles awaiting
their signature, read from stored facts (the next-cycle window of
``visits.rules.next_cycle``, stored on the patient; the review worklist)."""

from django.urls import reverse

from accounts.roles import Role
from accounts.scoping import access_for, scope_to_user_sites
from oversight.worklists import cycle_worklist
from patients.models import Patient

from .services import absolute

#: At most this many rows of each list in the e-mail; the count and the link give the rest.
DIGEST_ROWS = 50
#: Who gets which section (as the dashboard: the site staff and the admins see what is
#: due; the investigators sign).
OVERDUE_ROLES = frozenset({Role.CLINICIAN.value, Role.INVESTIGATOR.value, Role.ADMIN.value})
SIGNING_ROLES = frozenset({Role.INVESTIGATOR.value})


def digest_for(user, *, today):
    """``(overdue_count, overdue_rows, unsigned_count, unsigned_rows)`` for ``user``."""
    roles = access_for(user).roles
    overdue_count, overdue, unsigned_count, unsigned = 0, [], 0, []
    if roles & OVERDUE_ROLES:
        qs = scope_to_user_sites(Patient.objects.next_cycle("overdue", today=today), user)
        overdue_count = qs.count()
        overdue = list(qs.values_list("subject_id", "next_cycle_window_end_date")[:DIGEST_ROWS])
    if roles & SIGNING_ROLES:
        qs = cycle_worklist(user).filter(signed=False)
        unsigned_count = qs.count()
        unsigned = list(qs.values_list("patient__subject_id", "number")[:DIGEST_ROWS])
    return overdue_count, overdue, unsigned_count, unsigned


def digest_text(*, today, overdue_count, overdue, unsigned_count, unsigned):
    """The e-mail's text, or "" when there is nothing to say."""
    if not overdue_count and not unsigned_count:
        return ""
    lines = [f"Your IVIG EDC digest of {today.isoformat()}.", ""]
    if overdue_count:
        lines.append(f"Overdue cycles (the window closed): {overdue_count}")
        lines += [f"  {subject_id}: window ended {end.isoformat()}" for subject_id, end in overdue]
        if overdue_count > len(overdue):
            lines.append(f"  ... and {overdue_count - len(overdue)} more")
        lines += [f"  {absolute(reverse('patients:patient_list'))}?schedule=overdue", ""]
    if unsigned_count:
        lines.append(f"Cycles awaiting your signature: {unsigned_count}")
        lines += [f"  {subject_id}: cycle {number}" for subject_id, number in unsigned]
        if unsigned_count > len(unsigned):
            lines.append(f"  ... and {unsigned_count - len(unsigned)} more")
        lines += [f"  {absolute(reverse('oversight:cycle_list'))}?signature=unsigned", ""]
    return "\n".join(lines)
