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


def digest_params(*, today, overdue_count, overdue, unsigned_count, unsigned):
    """What the digest says (``notifications.texts``: codes and ISO dates), or None when
    there is nothing to say."""
    if not overdue_count and not unsigned_count:
        return None
    return {
        "today": today.isoformat(),
        "overdue_count": overdue_count, "overdue": [[s, end.isoformat() if end else None] for s, end in overdue],
        "unsigned_count": unsigned_count, "unsigned": [[s, number] for s, number in unsigned],
        "overdue_url": f"{absolute(reverse('patients:patient_list'))}?schedule=overdue",
        "unsigned_url": f"{absolute(reverse('oversight:cycle_list'))}?signature=unsigned",
    }


def digest_text(**facts):
    """The e-mail's text in the active language, or "" when there is nothing to say."""
    from .rules import Kind
    from .texts import render

    params = digest_params(**facts)
    return render(Kind.DIGEST, params)[1] if params else ""
