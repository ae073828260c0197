"""The edit checks' own conditions: pure functions, no ORM (issue 17).

Each function answers "does this record fail?" from plain values; ``editchecks/checks.py``
reads the values in bulk and calls them. Where a capture app states the rule already it is
reused, not restated: a result's multiple of its upper limit of normal
(``visits.rules.times_upper_limit``), a percent change (``visits.rules.percent_change``), the
patient's statuses (``patients.rules.PatientStatus``).

The windows are choices of this study's data management, made here once:

- an adverse event "goes with" a laboratory or muscle-power finding when its onset is within
  :data:`AE_WINDOW_DAYS` (14) days of it: a CK rise or a loss of power from a complication
  (rhabdomyolysis, a myositis flare, an infection) is dated by its onset, which the site may
  set at the finding or at the symptoms before it, and is entered within two weeks of the
  finding in the usual course of a monthly visit;
- an MMT-8 fall is measured from the previous assessment of the same scale (a fall between
  two visits, a month apart, is what calls for an explanation; the fall from baseline is an
  outcome, reported by ``reporting``), and an AE explains it when its onset is from the
  previous assessment to 14 days after this one;
- the end-of-treatment visit is due 8 weeks (56 days) after the last infusion, once the
  patient is no longer treated (completed or withdrawn);
- a weight more than 10 % from the previous cycle's is checked (the dose is per kg: a typing
  error, pounds for kilograms, changes the dose given).
"""

from datetime import date, timedelta
from decimal import Decimal

from patients.rules import PatientStatus
from visits.rules import percent_change, times_upper_limit

#: CK above this many times the laboratory's upper limit of normal calls for an adverse event.
CK_TIMES_UPPER_LIMIT = Decimal("10")
#: An adverse event goes with a finding when its onset is within this many days of it.
AE_WINDOW_DAYS = 14
#: An MMT-8 total this many percent (or more) below the previous assessment's is a fall.
MMT_FALL_PERCENT = Decimal("20")
#: The end-of-treatment visit is expected this many days (8 weeks) after the last infusion.
END_OF_TREATMENT_DUE_DAYS = 56
#: A weight more than this many percent from the previous cycle's is queried.
WEIGHT_CHANGE_PERCENT = Decimal("10")
#: The statuses of a patient no longer treated.
NOT_TREATED = frozenset({PatientStatus.COMPLETED, PatientStatus.WITHDRAWN})


def ae_onset_within(onsets, *, start: date, end: date) -> bool:
    """Whether one of the adverse events' onset dates lies from ``start`` to ``end`` (inclusive)."""
    return any(start <= onset <= end for onset in onsets if onset is not None)


def ae_window(finding_date: date) -> tuple[date, date]:
    """The onset dates of an adverse event that goes with a finding of ``finding_date``."""
    return finding_date - timedelta(days=AE_WINDOW_DAYS), finding_date + timedelta(days=AE_WINDOW_DAYS)


def ck_above_limit_without_ae(*, ck, uln, assessment_date: date | None, ae_onsets, baseline=False) -> bool:
    """EC001: CK above :data:`CK_TIMES_UPPER_LIMIT` times the upper limit, and no adverse event
    with onset within :data:`AE_WINDOW_DAYS` days of the assessment. Not at ``baseline`` (the
    patient's first assessment, before any IVIG): a very high CK then is the active myositis
    that made the patient eligible, not an event."""
    ratio = times_upper_limit(ck, uln)
    if baseline or ratio is None or ratio <= CK_TIMES_UPPER_LIMIT or assessment_date is None:
        return False
    start, end = ae_window(assessment_date)
    return not ae_onset_within(ae_onsets, start=start, end=end)


def assessment_after_first_infusion(*, assessment_date: date | None, first_infusion_date: date | None) -> bool:
    """EC002: a pre-treatment assessment dated after its cycle's first infusion."""
    return assessment_date is not None and first_infusion_date is not None and assessment_date > first_infusion_date


def onset_before_consent(*, onset_date: date | None, consent_date: date | None) -> bool:
    """EC003: an adverse event whose onset is before the patient's consent (a condition
    before consent is medical history, not an adverse event of the study)."""
    return onset_date is not None and consent_date is not None and onset_date < consent_date


def mmt_change_percent(previous_total, total) -> Decimal | None:
    """The MMT-8 total's change from the previous assessment, in percent (negative: a fall)."""
    return percent_change(previous_total, total)


def mmt_fall_without_ae(*, previous_total, previous_date: date | None, total, assessment_date: date | None,
                        ae_onsets) -> bool:
    """EC004: the MMT-8 total fell by :data:`MMT_FALL_PERCENT` % or more from the previous
    assessment (of the same scale), and no adverse event has its onset from the previous
    assessment to :data:`AE_WINDOW_DAYS` days after this one."""
    change = mmt_change_percent(previous_total, total)
    if change is None or change > -MMT_FALL_PERCENT or previous_date is None or assessment_date is None:
        return False
    end = assessment_date + timedelta(days=AE_WINDOW_DAYS)
    return not ae_onset_within(ae_onsets, start=previous_date, end=end)


def end_of_treatment_due(last_infusion_date: date) -> date:
    """The last day the end-of-treatment visit is expected by."""
    return last_infusion_date + timedelta(days=END_OF_TREATMENT_DUE_DAYS)


def end_of_treatment_missing(*, status, last_infusion_date: date | None, has_end_of_treatment: bool,
                             today: date) -> bool:
    """EC005: a patient no longer treated (completed or withdrawn) with no end-of-treatment
    assessment more than 8 weeks after the last infusion."""
    if status not in NOT_TREATED or last_infusion_date is None or has_end_of_treatment:
        return False
    return today > end_of_treatment_due(last_infusion_date)


def weight_change_percent(previous_weight, weight) -> Decimal | None:
    """The weight's change from the previous cycle, in percent."""
    return percent_change(previous_weight, weight)


def weight_change_implausible(*, previous_weight, weight) -> bool:
    """EC006: the weight differs from the previous cycle's by more than :data:`WEIGHT_CHANGE_PERCENT` %."""
    change = weight_change_percent(previous_weight, weight)
    return change is not None and abs(change) > WEIGHT_CHANGE_PERCENT
