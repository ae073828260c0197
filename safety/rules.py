"""Adverse-event rules: pure functions, no Django (DOMAIN.md section 6).

Seriousness is a regulatory outcome (ICH E2A), not intensity: a severe
(grade 3) event is not serious unless a seriousness criterion applies.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from core.rules import Violation, future_date

#: A serious event must be reviewed within this time of its entry.
EXPEDITED_REVIEW_WINDOW = timedelta(hours=24)

SERIOUSNESS_CRITERIA = (
    ("serious_death", "results in death"),
    ("serious_life_threatening", "life-threatening"),
    ("serious_hospitalisation", "requires or prolongs hospitalisation"),
    ("serious_disability", "persistent or significant disability"),
    ("serious_congenital_anomaly", "congenital anomaly or birth defect"),
    ("serious_medically_important", "medically important event"),
)
CTCAE_GRADES = {
    1: "1 – mild",
    2: "2 – moderate",
    3: "3 – severe",
    4: "4 – life-threatening",
    5: "5 – death",
}
FATAL = "fatal"


def ae_violations(*, today, grade, serious, criteria: dict, outcome, onset_date, end_date,
                  enrolment_date, infusion_date=None, infusion_patient_ok=True) -> list[Violation]:
    """``criteria``: criterion field -> bool."""
    v = []
    ticked = [name for name, on in criteria.items() if on]
    if grade == 5:
        if not serious or not criteria.get("serious_death"):
            v.append(Violation("serious_death", "grade5_is_death",
                               "Grade 5 means death: mark the event serious with the criterion "
                               "'results in death'."))
        if outcome and outcome != FATAL:
            v.append(Violation("outcome", "grade5_is_fatal", "A grade 5 event has the outcome 'fatal'."))
    if serious and not ticked:
        v.append(Violation("serious", "criterion_required",
                           "A serious event needs at least one seriousness criterion."))
    if not serious and ticked:
        v.append(Violation("serious", "criteria_without_serious",
                           "A seriousness criterion is ticked: mark the event serious, or untick it."))
    if criteria.get("serious_death") and outcome and outcome != FATAL:
        v.append(Violation("outcome", "death_is_fatal",
                           "The event resulted in death: the outcome is 'fatal'."))
    v += future_date("onset_date", onset_date, today, "The onset date")
    v += future_date("end_date", end_date, today, "The end date")
    if onset_date and end_date and end_date < onset_date:
        v.append(Violation("end_date", "end_before_onset", "The end date cannot be before the onset."))
    if onset_date and enrolment_date and onset_date < enrolment_date:
        v.append(Violation("onset_date", "before_enrolment",
                           "An adverse event in this study starts on or after enrolment; record "
                           "earlier conditions as medical history."))
    if not infusion_patient_ok:
        v.append(Violation("infusion", "other_patient", "That infusion belongs to another patient."))
    elif infusion_date and onset_date and onset_date < infusion_date:
        v.append(Violation("onset_date", "before_infusion",
                           "The event cannot start before the infusion it is linked to."))
    return v


def review_due_at(entered_at):
    return entered_at + EXPEDITED_REVIEW_WINDOW


# --- review and follow-up (the oversight workflow) ---------------------------

ACKNOWLEDGEMENT = "acknowledgement"
MEDICAL_REVIEW = "medical_review"
#: Outcomes that close an event: after one of these, no further follow-up.
RESOLVING_OUTCOMES = frozenset({"recovered", "sequelae", FATAL})
#: Reviewed serious events stay at the bottom of the queue for this long.
QUEUE_RECENT_WINDOW = timedelta(days=14)


def is_resolved(outcome) -> bool:
    return outcome in RESOLVING_OUTCOMES


def review_violations(*, kind, comment, reviewer_relatedness, reviewer_may_review, event_voided=False,
                      already_reviewed=False, reviewed_at=None, entered_at=None,
                      reviewer_entered_event=False) -> list[Violation]:
    """An acknowledgement needs only a reviewer with the review role; a medical
    review also needs a comment and the reviewer's own WHO-UMC relatedness.

    Any event may be reviewed (serious or not); only serious ones are on the
    24-hour queue. No acknowledgement once the event has had its medical
    review (one acknowledgement per event is a database constraint, with its
    own message); several medical reviews are allowed (a second opinion, or a
    re-assessment after follow-up).

    The review is independent: whoever entered the event does not acknowledge
    or review it (``reviewer_entered_event``), whatever their role."""
    v = []
    if not reviewer_may_review:
        v.append(Violation("__all__", "not_a_reviewer",
                           "Only a monitor or an administrator can acknowledge or review an adverse event."))
    if reviewer_entered_event:
        v.append(Violation("__all__", "own_entry",
                           "You entered this adverse event: another monitor or administrator reviews it."))
    if event_voided:
        v.append(Violation("__all__", "event_voided", "This adverse event was voided: it cannot be reviewed."))
    if kind == MEDICAL_REVIEW:
        if not (comment or "").strip():
            v.append(Violation("comment", "comment_required",
                               "A medical review needs a comment: your assessment of the event."))
        if not reviewer_relatedness:
            v.append(Violation("reviewer_relatedness", "relatedness_required",
                               "Give your own assessment of relatedness to IVIG (WHO-UMC)."))
    elif kind == ACKNOWLEDGEMENT:
        if already_reviewed:
            v.append(Violation("__all__", "already_reviewed",
                               "This event already has its medical review; there is nothing to acknowledge."))
    if reviewed_at and entered_at and reviewed_at < entered_at:
        v.append(Violation("__all__", "before_entry", "A review cannot predate the entry of the event."))
    return v


def follow_up_violations(*, today, follow_up_date, outcome, end_date, onset_date, event_outcome,
                         event_voided=False, event_is_death=False, is_new=True) -> list[Violation]:
    """Follow-up entries are taken until the event is resolved.

    A follow-up whose outcome resolves the event (recovered, recovered with
    sequelae, fatal) gives the end date; other outcomes leave the event
    ongoing and take no end date. A fatal outcome needs the event itself to
    say death (grade 5, criterion "results in death", ``event_is_death``):
    that is a correction of the event, with its reason, not a side effect of
    a follow-up."""
    v = []
    if is_new and event_voided:
        v.append(Violation("__all__", "event_voided", "This adverse event was voided: no follow-up."))
    elif is_new and is_resolved(event_outcome):
        v.append(Violation("__all__", "event_resolved",
                           "This adverse event is already resolved: no further follow-up. If it recurred, "
                           "report a new adverse event; if it was closed in error, correct the event "
                           "with a reason for change."))
    v += future_date("follow_up_date", follow_up_date, today, "The follow-up date")
    if follow_up_date and onset_date and follow_up_date < onset_date:
        v.append(Violation("follow_up_date", "before_onset",
                           "The follow-up date cannot be before the onset of the event."))
    if outcome == FATAL and not event_is_death:
        v.append(Violation("outcome", "fatal_needs_death",
                           "A fatal outcome means the event resulted in death: first correct the event "
                           "(grade 5, serious, 'results in death') with a reason for change, then record "
                           "this follow-up."))
    if outcome and is_resolved(outcome):
        if end_date is None:
            v.append(Violation("end_date", "end_date_required",
                               "This outcome resolves the event: give the date it ended."))
    elif end_date is not None:
        v.append(Violation("end_date", "end_date_while_ongoing",
                           "An end date goes with an outcome that resolves the event (recovered, "
                           "recovered with sequelae, fatal)."))
    if end_date is not None:
        v += future_date("end_date", end_date, today, "The end date")
        if onset_date and end_date < onset_date:
            v.append(Violation("end_date", "end_before_onset", "The end date cannot be before the onset."))
        elif follow_up_date and end_date > follow_up_date:
            v.append(Violation("end_date", "end_after_follow_up",
                               "The end date cannot be after the date of this follow-up."))
    return v


@dataclass(frozen=True)
class ReviewClock:
    """Where a serious event stands against its 24-hour review window."""

    due_at: datetime
    overdue: bool  # unreviewed and past due
    late: bool  # reviewed, but after the due time
    remaining: timedelta  # negative when past due (at ``now`` or at the review)

    @property
    def label(self):
        if self.remaining >= timedelta(0):
            return f"{format_hours(self.remaining)} left"
        return f"overdue by {format_hours(-self.remaining)}"


def review_clock(*, entered_at, now, reviewed_at=None) -> ReviewClock:
    """The clock stops at the medical review (``reviewed_at``), not at the acknowledgement."""
    due = review_due_at(entered_at)
    stopped = reviewed_at or now
    remaining = due - stopped
    return ReviewClock(due_at=due, overdue=reviewed_at is None and remaining < timedelta(0),
                       late=reviewed_at is not None and remaining < timedelta(0), remaining=remaining)


def format_hours(span: timedelta) -> str:
    """``3h 05m``; whole hours beyond a day (``50h 00m``), never days, to match the 24-hour window."""
    minutes = int(span.total_seconds() // 60)
    return f"{minutes // 60}h {minutes % 60:02d}m"
