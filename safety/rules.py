"""Adverse-event rules: pure functions, no ORM (DOMAIN.md section 6).

Seriousness is a regulatory outcome (ICH E2A), not intensity: a severe
(grade 3) event is not serious unless a seriousness criterion applies.

Each coded concept of the safety app is defined once, here, as Django
``TextChoices`` (an enumeration, no database access); ``safety.models`` uses
these classes for its fields and re-exports them.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models.enums import TextChoices  # an enumeration: no ORM
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from core.rules import Violation

#: The version of the rules that computed the stored facts of an event
#: (``AdverseEvent.rules_version``): bump it when a rule below changes, then run
#: ``manage.py recompute_derived``.
RULES_VERSION = "2026.12"

#: A serious event is reported to the sponsor (here: entered) and reviewed
#: within this time of the site's awareness of it (ICH E6 / E2A).
EXPEDITED_REVIEW_WINDOW = timedelta(hours=24)

SERIOUSNESS_CRITERIA = (
    ("serious_death", _("results in death")),
    ("serious_life_threatening", _("life-threatening")),
    ("serious_hospitalisation", _("requires or prolongs hospitalisation")),
    ("serious_disability", _("persistent or significant disability")),
    ("serious_congenital_anomaly", _("congenital anomaly or birth defect")),
    ("serious_medically_important", _("medically important event")),
)
CTCAE_GRADES = {
    1: _("1 – mild"),
    2: _("2 – moderate"),
    3: _("3 – severe"),
    4: _("4 – life-threatening"),
    5: _("5 – death"),
}
#: CTCAE grade 5 is death, grade 4 life-threatening (DOMAIN.md section 6).
DEATH_GRADE = 5
LIFE_THREATENING_GRADE = 4


class Relatedness(TextChoices):
    """WHO-UMC causality categories."""

    CERTAIN = "certain", _("Certain")
    PROBABLE = "probable", _("Probable / likely")
    POSSIBLE = "possible", _("Possible")
    UNLIKELY = "unlikely", _("Unlikely")
    CONDITIONAL = "conditional", _("Conditional / unclassified")
    UNASSESSABLE = "unassessable", _("Unassessable / unclassifiable")


class ActionTaken(TextChoices):
    NONE = "none", pgettext_lazy("action taken with IVIG", "None")
    RATE_REDUCED = "rate_reduced", _("Rate reduced")
    INTERRUPTED = "interrupted", _("Infusion interrupted")
    WITHDRAWN = "withdrawn", _("IVIG withdrawn")


class Outcome(TextChoices):
    RECOVERED = "recovered", _("Recovered / resolved")
    RECOVERING = "recovering", _("Recovering / resolving")
    NOT_RECOVERED = "not_recovered", _("Not recovered / not resolved")
    SEQUELAE = "sequelae", _("Recovered with sequelae")
    FATAL = "fatal", pgettext_lazy("adverse event outcome", "Fatal")
    UNKNOWN = "unknown", pgettext_lazy("adverse event outcome", "Unknown")


class ReviewKind(TextChoices):
    ACKNOWLEDGEMENT = "acknowledgement", _("Acknowledgement")
    MEDICAL_REVIEW = "medical_review", _("Medical review")


FATAL = Outcome.FATAL


def _not_future(field, value, today, message) -> list[Violation]:
    """``core.rules.future_date`` with a whole message (a translated sentence is not
    assembled from pieces)."""
    if value is not None and value > today:
        return [Violation(field, "in_future", message)]
    return []


def _consistency(*, grade, serious, criteria, outcome) -> list[Violation]:
    """Death and life-threat said the same way everywhere (DOMAIN.md section 6).

    Grade 5, the outcome "fatal" and the criterion "results in death" go
    together: any one of them needs the other two (and the event serious).
    Grade 4 is life-threatening by definition: it needs the criterion
    "life-threatening", and that criterion needs grade 4 or 5. One error per
    field, coded by what asked for it."""
    v = []
    grade5, fatal = grade == DEATH_GRADE, outcome == FATAL
    death = bool(criteria.get("serious_death"))
    if (fatal or death) and grade is not None and not grade5:
        v.append(Violation("grade", "fatal_is_grade5", _("A fatal outcome means CTCAE grade 5 (death)."))
                 if fatal else
                 Violation("grade", "death_is_grade5",
                           _("The criterion 'results in death' means CTCAE grade 5 (death).")))
    if (grade5 or fatal) and not (serious and death):
        v.append(Violation("serious_death", "grade5_is_death",
                           _("Grade 5 means death: mark the event serious with the criterion "
                             "'results in death'."))
                 if grade5 else
                 Violation("serious_death", "fatal_is_death",
                           _("A fatal outcome means the event resulted in death: mark the event serious "
                             "with the criterion 'results in death'.")))
    if (grade5 or death) and outcome and not fatal:
        v.append(Violation("outcome", "grade5_is_fatal", _("A grade 5 event has the outcome 'fatal'."))
                 if grade5 else
                 Violation("outcome", "death_is_fatal", _("The event resulted in death: the outcome is 'fatal'.")))
    life = bool(criteria.get("serious_life_threatening"))
    if grade == LIFE_THREATENING_GRADE and not (serious and life):
        v.append(Violation("serious_life_threatening", "grade4_is_life_threatening",
                           _("Grade 4 means life-threatening: mark the event serious with the criterion "
                             "'life-threatening'.")))
    if life and grade is not None and grade < LIFE_THREATENING_GRADE:
        v.append(Violation("grade", "life_threatening_is_grade4",
                           _("A life-threatening event is CTCAE grade 4 (or 5 if it resulted in death).")))
    return v


def ae_violations(*, today, grade, serious, criteria: dict, outcome, onset_date, end_date,
                  enrolment_date, infusion_date=None, infusion_patient_ok=True) -> list[Violation]:
    """``criteria``: criterion field -> bool."""
    v = []
    ticked = [name for name, on in criteria.items() if on]
    v += _consistency(grade=grade, serious=serious, criteria=criteria, outcome=outcome)
    if serious and not ticked:
        v.append(Violation("serious", "criterion_required",
                           _("A serious event needs at least one seriousness criterion.")))
    if not serious and ticked:
        v.append(Violation("serious", "criteria_without_serious",
                           _("A seriousness criterion is ticked: mark the event serious, or untick it.")))
    v += _not_future("onset_date", onset_date, today, _("The onset date cannot be in the future."))
    v += _not_future("end_date", end_date, today, _("The end date cannot be in the future."))
    if onset_date and end_date and end_date < onset_date:
        v.append(Violation("end_date", "end_before_onset", _("The end date cannot be before the onset.")))
    if onset_date and enrolment_date and onset_date < enrolment_date:
        v.append(Violation("onset_date", "before_enrolment",
                           _("An adverse event in this study starts on or after enrolment. Record an "
                             "earlier condition on the patient's page (the diagnosis or the malignancy "
                             "history), and a drug taken for it under the concomitant medications.")))
    if not infusion_patient_ok:
        v.append(Violation("infusion", "other_patient", _("That infusion belongs to another patient.")))
    elif infusion_date and onset_date and onset_date < infusion_date:
        v.append(Violation("onset_date", "before_infusion",
                           _("The event cannot start before the infusion it is linked to.")))
    return v


# --- the SAE clock: 24 hours from the site's awareness --------------------------

def awareness_violations(*, aware_at, aware_date, onset_date, now) -> list[Violation]:
    """The time the site became aware of the event: not in the future, not before
    the onset (``aware_date``: ``aware_at``'s date in the site's time zone)."""
    v = []
    if aware_at is not None and now is not None and aware_at > now:
        v.append(Violation("aware_at", "in_future", _("The time of awareness cannot be in the future.")))
    elif aware_date is not None and onset_date is not None and aware_date < onset_date:
        v.append(Violation("aware_at", "before_onset",
                           _("The site cannot have become aware of the event before its onset.")))
    return v


#: The coded facts an adverse event stores from its dictionary term (``coded_facts``), in SDTM order.
CODED_FIELDS = ("meddra_llt_name", "meddra_llt_code", "meddra_pt_name", "meddra_pt_code",
                "meddra_soc_name", "meddra_soc_code", "meddra_source")


def coded_facts(*, term) -> dict:
    """What an event stores from the term it is coded with (``term``: an object with the
    dictionary's ``llt_*``, ``pt_*``, ``soc_*`` and ``source``; None when not coded). The
    facts are copied at coding, so a later dictionary load changes no coded event."""
    if term is None:
        return dict.fromkeys(CODED_FIELDS, "")
    return {"meddra_llt_name": term.llt_name, "meddra_llt_code": term.llt_code,
            "meddra_pt_name": term.pt_name, "meddra_pt_code": term.pt_code,
            "meddra_soc_name": term.soc_name, "meddra_soc_code": term.soc_code,
            "meddra_source": term.source}


def coding_violations(*, term_chosen: bool, term_changed: bool, term_current: bool) -> list[Violation]:
    """Coding is optional at entry (an uncoded event is "to code"); a newly chosen
    term must be current in its dictionary. A term that was current when the event was
    coded stays valid after a later load retires it (the stored facts are kept)."""
    if term_chosen and term_changed and not term_current:
        return [Violation("coded_term", "term_not_current",
                          _("This dictionary term is no longer current: choose a current one."))]
    return []


def report_due_at(aware_at):
    """A serious event is due (entered for the sponsor and reviewed) 24 hours after awareness."""
    return aware_at + EXPEDITED_REVIEW_WINDOW


@dataclass(frozen=True)
class SaeFacts:
    """The stored facts of the SAE clock (``AdverseEvent.report_due_at`` / ``reported_late``)."""

    report_due_at: datetime | None
    reported_late: bool


def sae_facts(*, serious, aware_at, sae_entered_at) -> SaeFacts:
    """``sae_entered_at``: when the event was first stored as serious (its report
    to the sponsor through this system). A serious event entered more than 24
    hours after the site became aware of it was reported late. A non-serious
    event has no clock."""
    if not serious or aware_at is None:
        return SaeFacts(None, False)
    due = report_due_at(aware_at)
    return SaeFacts(due, sae_entered_at is not None and sae_entered_at > due)


# --- review and follow-up (the oversight workflow) ---------------------------

ACKNOWLEDGEMENT = ReviewKind.ACKNOWLEDGEMENT
MEDICAL_REVIEW = ReviewKind.MEDICAL_REVIEW
#: Outcomes that close an event: after one of these, no further follow-up.
RESOLVING_OUTCOMES = frozenset({Outcome.RECOVERED, Outcome.SEQUELAE, Outcome.FATAL})
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
                           _("Only a monitor or an administrator can acknowledge or review an adverse event.")))
    if reviewer_entered_event:
        v.append(Violation("__all__", "own_entry",
                           _("You entered this adverse event: another monitor or administrator reviews it.")))
    if event_voided:
        v.append(Violation("__all__", "event_voided", _("This adverse event was voided: it cannot be reviewed.")))
    if kind == MEDICAL_REVIEW:
        if not (comment or "").strip():
            v.append(Violation("comment", "comment_required",
                               _("A medical review needs a comment: your assessment of the event.")))
        if not reviewer_relatedness:
            v.append(Violation("reviewer_relatedness", "relatedness_required",
                               _("Give your own assessment of relatedness to IVIG (WHO-UMC).")))
    elif kind == ACKNOWLEDGEMENT:
        if already_reviewed:
            v.append(Violation("__all__", "already_reviewed",
                               _("This event already has its medical review; there is nothing to acknowledge.")))
    if reviewed_at and entered_at and reviewed_at < entered_at:
        v.append(Violation("__all__", "before_entry", _("A review cannot predate the entry of the event.")))
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
        v.append(Violation("__all__", "event_voided", _("This adverse event was voided: no follow-up.")))
    elif is_new and is_resolved(event_outcome):
        v.append(Violation("__all__", "event_resolved",
                           _("This adverse event is already resolved: no further follow-up. If it recurred, "
                             "report a new adverse event; if it was closed in error, correct the event "
                             "with a reason for change.")))
    v += _not_future("follow_up_date", follow_up_date, today, _("The follow-up date cannot be in the future."))
    if follow_up_date and onset_date and follow_up_date < onset_date:
        v.append(Violation("follow_up_date", "before_onset",
                           _("The follow-up date cannot be before the onset of the event.")))
    if outcome == FATAL and not event_is_death:
        v.append(Violation("outcome", "fatal_needs_death",
                           _("A fatal outcome means the event resulted in death: correct the event itself "
                             "(grade 5, serious, 'results in death', outcome fatal, end date) with a reason "
                             "for change; a death is not recorded as a follow-up of a living event.")))
    if outcome and is_resolved(outcome):
        if end_date is None:
            v.append(Violation("end_date", "end_date_required",
                               _("This outcome resolves the event: give the date it ended.")))
    elif end_date is not None:
        v.append(Violation("end_date", "end_date_while_ongoing",
                           _("An end date goes with an outcome that resolves the event (recovered, "
                             "recovered with sequelae, fatal).")))
    if end_date is not None:
        v += _not_future("end_date", end_date, today, _("The end date cannot be in the future."))
        if onset_date and end_date < onset_date:
            v.append(Violation("end_date", "end_before_onset", _("The end date cannot be before the onset.")))
        elif follow_up_date and end_date > follow_up_date:
            v.append(Violation("end_date", "end_after_follow_up",
                               _("The end date cannot be after the date of this follow-up.")))
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
            return gettext("%(time)s left") % {"time": format_hours(self.remaining)}
        return gettext("overdue by %(time)s") % {"time": format_hours(-self.remaining)}


def review_clock(*, due_at, now, reviewed_at=None) -> ReviewClock:
    """``due_at``: the event's stored ``report_due_at`` (24 hours from awareness).
    The clock stops at the medical review (``reviewed_at``), not at the acknowledgement."""
    due = due_at
    stopped = reviewed_at or now
    remaining = due - stopped
    return ReviewClock(due_at=due, overdue=reviewed_at is None and remaining < timedelta(0),
                       late=reviewed_at is not None and remaining < timedelta(0), remaining=remaining)


def format_hours(span: timedelta) -> str:
    """``3h 05m`` (French ``3 h 05 min``); whole hours beyond a day (``50h 00m``), never days,
    to match the 24-hour window."""
    minutes = int(span.total_seconds() // 60)
    return gettext("%(hours)dh %(minutes)02dm") % {"hours": minutes // 60, "minutes": minutes % 60}
