"""Notification rules: pure functions, no ORM.

Which notices exist (``Kind``), which of them a user gets by e-mail (their
preferences; a monitor always gets the serious-adverse-event ones), and when an
unreviewed serious adverse event is escalated (12 and 20 hours after the site
became aware of it) and marked late (past its 24-hour window: the safety app's
own clock, ``safety.rules.review_clock``, decides).
"""

from datetime import datetime, timedelta

from django.db.models.enums import TextChoices  # an enumeration: no ORM
from django.utils.translation import gettext_lazy as _

from core.rules import Violation
from safety.rules import report_due_at, review_clock


class Kind(TextChoices):
    SAE = "sae", _("Serious adverse event")
    SAE_ESCALATION = "sae_escalation", _("Serious adverse event still unreviewed")
    QUERY_RAISED = "query_raised", _("Data query raised")
    QUERY_ANSWERED = "query_answered", _("Data query answered")
    DIGEST = "digest", _("Daily digest")


class Preference(TextChoices):
    """What a user switches on or off for e-mail (in-app notices are always kept)."""

    SAE = "sae", _("Serious adverse events and their escalations")
    QUERY = "query", _("Data queries raised or answered")
    DIGEST = "digest", _("Daily digest: overdue cycles and cycles awaiting your signature")


#: The e-mail switch that governs each kind of notice.
PREFERENCE_OF = {
    Kind.SAE: Preference.SAE,
    Kind.SAE_ESCALATION: Preference.SAE,
    Kind.QUERY_RAISED: Preference.QUERY,
    Kind.QUERY_ANSWERED: Preference.QUERY,
    Kind.DIGEST: Preference.DIGEST,
}
#: Switches a monitor cannot turn off: the serious-adverse-event e-mails.
MONITOR_REQUIRED = frozenset({Preference.SAE})

#: Escalation of an unreviewed serious event, by hours since the site became aware of it.
ESCALATION_AFTER = (timedelta(hours=12), timedelta(hours=20))
#: Past its 24-hour window (``safety.rules.review_clock``: overdue) the event is late: one
#: more notice, and the "late" mark on the lists.
STAGE_LATE = "late"


def email_wanted(*, kind, email_on: dict, is_monitor: bool, has_address: bool) -> bool:
    """Whether a notice of ``kind`` goes out by e-mail to a user: they have an address and
    their switch for it is on (``email_on``: preference -> bool, missing = on); a monitor's
    SAE switch counts as on whatever is stored."""
    if not has_address:
        return False
    preference = PREFERENCE_OF[Kind(kind)]
    if is_monitor and preference in MONITOR_REQUIRED:
        return True
    return bool(email_on.get(preference, True))


def preference_violations(*, email_on: dict, is_monitor: bool) -> list[Violation]:
    """A monitor cannot turn the serious-adverse-event e-mails off."""
    v = []
    if is_monitor:
        for preference in MONITOR_REQUIRED:
            if not email_on.get(preference, True):
                v.append(Violation(f"email_{preference}", "monitor_sae_required",
                                   _("Monitors always receive serious adverse events by e-mail: "
                                     "this cannot be turned off.")))
    return v


def escalation_stage_name(after: timedelta) -> str:
    return f"{int(after.total_seconds() // 3600)}h"


def escalation_stages(*, aware_at: datetime, now: datetime, reviewed: bool) -> list[str]:
    """The escalation stages an unreviewed serious event has reached at ``now``: ``12h``,
    ``20h`` and ``late`` (past 24 hours), in order; none once it is reviewed (its medical
    review, as the 24-hour clock: ``safety.rules.review_clock``)."""
    if reviewed or aware_at is None:
        return []
    elapsed = now - aware_at
    stages = [escalation_stage_name(after) for after in ESCALATION_AFTER if elapsed >= after]
    if review_clock(due_at=report_due_at(aware_at), now=now).overdue:
        stages.append(STAGE_LATE)
    return stages


def escalation_to_send(*, reached: list[str], sent: set[str]) -> str | None:
    """Which escalation to send now: the latest stage reached, unless it was sent. Earlier
    stages passed while no check ran (a worker down for hours, the first run after an
    upgrade) are not sent late: the latest one says more, and one e-mail instead of three."""
    if not reached or reached[-1] in sent:
        return None
    return reached[-1]
