"""Clinical rules for treatment cycles, assessments and infusions.

Pure functions with named constants and Decimal arithmetic; no ORM (the
choices are Django ``TextChoices``, plain string enums, defined here once and
used by the models). :func:`derive_cycle` and :func:`derive_infusion` give
every derived fact the services store on the rows (with :data:`RULES_VERSION`);
reports, exports and the API read the stored columns. Sources:
../shared/DOMAIN.md sections 3 (muscle power), 5 (laboratory) and 6 (IVIG
dosing and safety). ``Model.clean()`` turns hard violations into field errors;
protocol deviations (a dose off target, a late cycle, a fast rate, a missing
or non-consecutive day 2) are recorded, never refused and never silent.

Languages (issue 16): the rules' messages are in the active language (a field error
is read by the person typing), with its date and number formats (:func:`show_date`,
:func:`show_number`). A deviation's description is stored, so it is always the
English source text (:attr:`Deviation.description`, whatever the active language);
:func:`deviation_text` translates a stored description for the screen from its
template and values.
"""

import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db.models.enums import TextChoices
from django.utils import formats
from django.utils.translation import gettext, gettext_noop
from django.utils.translation import gettext_lazy as _

from core.rules import Violation, future_date

#: The version of these rules, stored with every fact they derive (``rules_version``).
#: Raise it with any change of a constant or a formula below, then run
#: ``manage.py recompute_derived``.
RULES_VERSION = "2026.12"

# --- Dosing ------------------------------------------------------------------

#: 1 g/kg on each of 2 consecutive days: 2 g/kg per cycle.
DOSE_G_PER_KG_PER_DAY = Decimal("1")
INFUSION_DAYS_PER_CYCLE = 2
#: A given dose more than this fraction away from the prescription is a deviation.
DOSE_TOLERANCE = Decimal("0.05")
#: Maximum infusion rate (mL/kg/min, on actual body weight); lower at renal or
#: thrombotic risk (DOMAIN.md section 6).
MAX_RATE_ML_PER_KG_MIN = Decimal("0.04")
MAX_RATE_AT_RISK_ML_PER_KG_MIN = Decimal("0.03")

# --- Schedule ----------------------------------------------------------------

CYCLE_INTERVAL_DAYS = 28
CYCLE_WINDOW_DAYS = 7

# --- Plausibility ------------------------------------------------------------

WEIGHT_MAX_KG = Decimal("350")
HEIGHT_MIN_CM = Decimal("100")
HEIGHT_MAX_CM = Decimal("250")
GLOBAL_MAX = Decimal("10")  # physician / patient / extramuscular global activity, 0-10
HAQ_MAX = Decimal("3")

# --- Devine ideal body weight ------------------------------------------------

CM_PER_INCH = Decimal("2.54")
IBW_BASE_KG = {"M": Decimal("50"), "F": Decimal("45.5")}
IBW_KG_PER_INCH_OVER_5_FEET = Decimal("2.3")
IBW_BASE_HEIGHT_INCHES = 60  # 5 feet
MINUTES_PER_HOUR = 60
ADJUSTED_WEIGHT_FACTOR = Decimal("0.4")

ONE_DECIMAL = Decimal("0.1")


def q1(value: Decimal) -> Decimal:
    return value.quantize(ONE_DECIMAL, rounding=ROUND_HALF_UP)


class DosingBasis(TextChoices):
    ACTUAL = "actual", _("Actual body weight")
    ADJUSTED = "adjusted", _("Adjusted body weight (Devine IBW)")


def devine_ibw_kg(sex: str, height_cm: Decimal) -> Decimal:
    """Devine ideal body weight: 50 kg (men) / 45.5 kg (women) + 2.3 kg per inch over 60."""
    inches = Decimal(height_cm) / CM_PER_INCH
    return IBW_BASE_KG[sex] + IBW_KG_PER_INCH_OVER_5_FEET * (inches - IBW_BASE_HEIGHT_INCHES)


def adjusted_body_weight_kg(actual_kg: Decimal, ibw_kg: Decimal) -> Decimal:
    """IBW + 0.4 x (actual - IBW). Below IBW the actual weight is used (no
    adjustment upwards): the study doses on the lower of the two."""
    if actual_kg <= ibw_kg:
        return Decimal(actual_kg)
    return ibw_kg + ADJUSTED_WEIGHT_FACTOR * (Decimal(actual_kg) - ibw_kg)


def dosing_weight_kg(basis, *, weight_kg, height_cm=None, sex=None) -> Decimal:
    """The weight the dose is prescribed on, to 0.1 kg."""
    if DosingBasis(basis) == DosingBasis.ADJUSTED:
        return q1(adjusted_body_weight_kg(Decimal(weight_kg), devine_ibw_kg(sex, Decimal(height_cm))))
    return q1(Decimal(weight_kg))


def prescribed_daily_dose_g(dosing_weight: Decimal) -> Decimal:
    """1 g/kg x dosing weight, to 0.1 g."""
    return q1(DOSE_G_PER_KG_PER_DAY * Decimal(dosing_weight))


def prescribed_cycle_dose_g(dosing_weight: Decimal) -> Decimal:
    return prescribed_daily_dose_g(dosing_weight) * INFUSION_DAYS_PER_CYCLE


def rate_ml_per_kg_min(rate_ml_per_h: Decimal, weight_kg: Decimal) -> Decimal:
    """mL/h = kg x mL/kg/min x 60, so mL/kg/min = mL/h / 60 / kg (3 decimals)."""
    return (Decimal(rate_ml_per_h) / MINUTES_PER_HOUR / Decimal(weight_kg)).quantize(Decimal("0.001"),
                                                                         rounding=ROUND_HALF_UP)


def rate_limit_ml_per_kg_min(at_risk: bool) -> Decimal:
    """The maximum rate: lower at renal or thrombotic risk (DOMAIN.md section 6)."""
    return MAX_RATE_AT_RISK_ML_PER_KG_MIN if at_risk else MAX_RATE_ML_PER_KG_MIN


def max_rate_ml_per_h(weight_kg: Decimal, at_risk: bool) -> Decimal:
    return q1(rate_limit_ml_per_kg_min(at_risk) * Decimal(weight_kg) * MINUTES_PER_HOUR)


def risk_in_force(on: date | None, renal_risk: bool, renal_since: date | None,
                  thrombotic_risk: bool, thrombotic_since: date | None) -> bool:
    """Renal or thrombotic risk in force on the date ``on``: ticked, and known from
    its date on (a ticked risk without a date holds from the start)."""
    def holds(ticked, since):
        return bool(ticked) and (since is None or on is None or on >= since)
    return holds(renal_risk, renal_since) or holds(thrombotic_risk, thrombotic_since)


# --- Deviations --------------------------------------------------------------

class DeviationKind(TextChoices):
    UNDERDOSE = "underdose", _("Under-dose")
    OVERDOSE = "overdose", _("Over-dose")
    MISSING_DAY = "missing_day", _("Missing infusion day")
    NON_CONSECUTIVE = "non_consecutive", _("Days not consecutive")
    WINDOW = "window", _("Outside the visit window")
    RATE = "rate", _("Infusion rate above the limit")


# The descriptions of the deviations: English templates (the stored text), translated only
# on screen (deviation_text). Their values are codes, ISO dates and dot decimals.
DOSE_TEXT = gettext_noop("Day %(day)s: %(given)s g given, %(prescribed)s g prescribed "
                         "(%(difference)s %%; tolerance %(tolerance)s %%).")
RATE_TEXT = gettext_noop("Day %(day)s: maximum rate %(rate_ml_per_h)s mL/h = %(rate)s mL/kg/min, "
                         "above %(limit)s mL/kg/min.")
RATE_AT_RISK_TEXT = gettext_noop("Day %(day)s: maximum rate %(rate_ml_per_h)s mL/h = %(rate)s mL/kg/min, "
                                 "above %(limit)s mL/kg/min (renal or thrombotic risk).")
WINDOW_TEXT = gettext_noop("Cycle started %(start)s, %(offset)s days from the planned %(planned)s "
                           "(window %(interval)s ± %(window)s days).")
MISSING_DAY_TEXT = gettext_noop("Day %(day)s infusion not given.")
NON_CONSECUTIVE_TEXT = gettext_noop("Day 2 given %(days)s days after day 1; the two days must be consecutive.")
DEVIATION_TEXTS = (DOSE_TEXT, RATE_TEXT, RATE_AT_RISK_TEXT, WINDOW_TEXT, MISSING_DAY_TEXT, NON_CONSECUTIVE_TEXT)


@dataclass(frozen=True)
class Deviation:
    kind: DeviationKind
    day: int  # infusion day it concerns; 0 for the whole cycle
    template: str  # one of DEVIATION_TEXTS
    values: dict = field(default_factory=dict)  # str values: numbers, ISO dates

    @property
    def description(self) -> str:
        """The stored description: the English text, whatever the active language."""
        return self.template % self.values

    def text(self) -> str:
        """The description in the active language, with its formats (the screen)."""
        return gettext(self.template) % {name: _localized(value) for name, value in self.values.items()}


def show_date(value: date) -> str:
    """A date in the active language's short format (2026-03-02, 02/03/2026)."""
    return formats.date_format(value, "SHORT_DATE_FORMAT")


def show_number(value) -> str:
    """A number with the active language's decimal separator ("72.5", "72,5"), never grouped."""
    return formats.number_format(value, use_l10n=True, force_grouping=False)


_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_NUMBER = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")


def _localized(value: str) -> str:
    """A stored description's value (an ISO date, a dot decimal) as the screen shows it."""
    value = str(value)
    if _ISO_DATE.fullmatch(value):
        return show_date(date.fromisoformat(value))
    if _NUMBER.fullmatch(value):
        return value.replace(".", formats.get_format("DECIMAL_SEPARATOR"))
    return value


def _pattern(template):
    parts = re.split(r"(%\(\w+\)s|%%)", template)
    out = []
    for part in parts:
        name = re.fullmatch(r"%\((\w+)\)s", part)
        out.append(f"(?P<{name.group(1)}>[+-]?[0-9][0-9.\\-]*)" if name else "%" if part == "%%" else re.escape(part))
    return re.compile("".join(out))


_PATTERNS = [(template, _pattern(template)) for template in DEVIATION_TEXTS]


def deviation_text(description: str) -> str:
    """A stored (English) description in the active language: read back into its template
    and values, then translated with the language's formats. A text no template reads
    (written by an older wording of the rules) is shown as stored."""
    for template, pattern in _PATTERNS:
        found = pattern.fullmatch(description or "")
        if found:
            return Deviation(kind=None, day=0, template=template, values=found.groupdict()).text()
    return description


def dose_difference(given_g, prescribed_g) -> Decimal | None:
    """(given - prescribed) / prescribed, unrounded; None without a positive prescription."""
    if prescribed_g is None or given_g is None or prescribed_g <= 0:
        return None
    return (Decimal(given_g) - Decimal(prescribed_g)) / Decimal(prescribed_g)


def dose_deviation(*, day: int, given_g: Decimal, prescribed_g: Decimal,
                   tolerance: Decimal | None = None) -> Deviation | None:
    """An under- or over-dose when the given dose is more than ``tolerance``
    (default :data:`DOSE_TOLERANCE`) away from the prescription (exactly at the
    tolerance is within)."""
    tolerance = DOSE_TOLERANCE if tolerance is None else tolerance
    difference = dose_difference(given_g, prescribed_g)
    if difference is None or abs(difference) <= tolerance:
        return None
    kind = DeviationKind.UNDERDOSE if difference < 0 else DeviationKind.OVERDOSE
    percent = q1(difference * 100)
    return Deviation(kind, day, DOSE_TEXT, {"day": str(day), "given": str(given_g), "prescribed": str(prescribed_g),
                                            "difference": f"{percent:+}", "tolerance": str(q1(tolerance * 100))})


def rate_deviation(*, day: int, rate_ml_per_h, weight_kg, at_risk: bool) -> Deviation | None:
    if rate_ml_per_h is None or not weight_kg:
        return None
    limit = rate_limit_ml_per_kg_min(at_risk)
    if Decimal(rate_ml_per_h) <= limit * Decimal(weight_kg) * MINUTES_PER_HOUR:  # compare unrounded
        return None
    rate = rate_ml_per_kg_min(rate_ml_per_h, weight_kg)
    return Deviation(DeviationKind.RATE, day, RATE_AT_RISK_TEXT if at_risk else RATE_TEXT,
                     {"day": str(day), "rate_ml_per_h": str(rate_ml_per_h), "rate": str(rate), "limit": str(limit)})


def planned_start(previous_start: date | None) -> date | None:
    return None if previous_start is None else previous_start + timedelta(days=CYCLE_INTERVAL_DAYS)


# --- The next cycle: its planned date, its window, and where today stands ---------

class ScheduleStatus(TextChoices):
    NOT_YET = "not_yet", _("Not yet in window")
    IN_WINDOW = "due", _("In window")
    OVERDUE = "overdue", _("Overdue")


@dataclass(frozen=True)
class NextCycle:
    """The next cycle's planned date and its window (both ends included).

    Stored on the patient by ``visits.services.patient_schedule_refresh`` (the
    field names are the ``Patient`` columns), so lists filter "overdue" by
    comparing a stored date with today."""

    next_cycle_planned_date: date | None
    next_cycle_window_start_date: date | None
    next_cycle_window_end_date: date | None
    schedule_rules_version: str = RULES_VERSION


NEXT_CYCLE_FIELDS = tuple(NextCycle.__dataclass_fields__)
NO_NEXT_CYCLE = NextCycle(None, None, None)


def schedule_anchor(*, last_start: date | None, last_missed_planned: date | None) -> date | None:
    """The date the next cycle counts from: the last cycle's day 1, or the planned date
    of a missed cycle recorded after it (the month without infusion takes the place of
    a cycle in the 4-weekly rhythm), whichever is later; None without either."""
    dates = [d for d in (last_start, last_missed_planned) if d is not None]
    return max(dates) if dates else None


def next_cycle(*, on_study: bool, last_start: date | None, enrolment_date: date | None,
               last_missed_planned: date | None = None) -> NextCycle:
    """The next cycle of a patient: previous cycle's day 1 + 28 days, window
    ± 7 days (:func:`planned_start`, as :func:`window_deviation` judges it).

    A missed cycle (``last_missed_planned``: the latest planned date a current
    missed-cycle record replaces) moves the schedule on: when it is later than
    the last day 1, the next cycle is planned 28 days after the missed cycle's
    planned date, window ± 7 days (:func:`schedule_anchor`). It does not move
    the deviation judgement of the next given cycle, which still counts from
    the previous given cycle (:func:`window_deviation`: the interval between
    infusions is what the protocol limits).

    The first cycle is planned on the enrolment date; it has no previous cycle
    to be early against, so its window opens on the enrolment date and closes
    :data:`CYCLE_WINDOW_DAYS` later. A patient not on study has no next cycle."""
    if not on_study:
        return NO_NEXT_CYCLE
    if last_missed_planned is not None:
        anchor = schedule_anchor(last_start=last_start, last_missed_planned=last_missed_planned)
        return NextCycle(*visit_window(anchor))
    if last_start is None:
        if enrolment_date is None:
            return NO_NEXT_CYCLE
        return NextCycle(enrolment_date, enrolment_date, enrolment_date + timedelta(days=CYCLE_WINDOW_DAYS))
    return NextCycle(*visit_window(last_start))


@dataclass(frozen=True)
class ScheduleState:
    """Where ``today`` stands against a next cycle's window."""

    status: ScheduleStatus
    days_until_window: int = 0  # not yet in window: days until it opens
    days_left: int = 0  # in window: days until it closes (0: its last day)
    days_late: int = 0  # overdue: days since the window closed


def schedule_state(*, window_start: date | None, window_end: date | None, today: date) -> ScheduleState | None:
    """Not yet in window / in window / overdue (with how many days late: days
    past the window's last day) for the stored window of a next cycle; None
    without one."""
    if window_start is None or window_end is None:
        return None
    if today < window_start:
        return ScheduleState(ScheduleStatus.NOT_YET, days_until_window=(window_start - today).days)
    if today <= window_end:
        return ScheduleState(ScheduleStatus.IN_WINDOW, days_left=(window_end - today).days)
    return ScheduleState(ScheduleStatus.OVERDUE, days_late=(today - window_end).days)


# --- A missed cycle: a month without infusion --------------------------------------

class MissedCycleReason(TextChoices):
    UNWELL = "unwell", _("Patient unwell")
    DECLINED = "declined", _("Patient declined")
    DRUG_SUPPLY = "drug_supply", _("Drug supply")
    HOSPITALISATION = "hospitalisation", _("Hospitalisation")
    OTHER = "other", _("Other")


def missed_cycle_violations(*, today: date, planned_date: date | None, enrolment_date: date | None,
                            withdrawal_date: date | None, cycle_starts, reason: str,
                            reason_detail: str) -> list[Violation]:
    """A missed cycle replaces a planned date: on or after enrolment, not after a
    withdrawal, at most one window (:data:`CYCLE_WINDOW_DAYS`) ahead of today (a miss
    known in advance: the patient declined, no drug), and not within a window of a
    given cycle's day 1 (``cycle_starts``: that month had its infusion); "other" needs
    the free text."""
    v = []
    if planned_date is not None:
        if planned_date > today + timedelta(days=CYCLE_WINDOW_DAYS):
            v.append(Violation("planned_date", "too_far_ahead",
                               gettext("A missed cycle is recorded at most %(days)s days before its "
                                       "planned date.") % {"days": CYCLE_WINDOW_DAYS}))
        if enrolment_date and planned_date < enrolment_date:
            v.append(Violation("planned_date", "before_enrolment",
                               gettext("The planned date cannot be before enrolment.")))
        if withdrawal_date and planned_date > withdrawal_date:
            v.append(Violation("planned_date", "after_withdrawal",
                               gettext("The patient was withdrawn before this date.")))
        given = sorted(d for d in cycle_starts if abs((d - planned_date).days) <= CYCLE_WINDOW_DAYS)
        if given:
            v.append(Violation("planned_date", "cycle_given",
                               gettext("A cycle was given on %(date)s, within %(days)s days of "
                                       "this date: that month was not missed.")
                               % {"date": show_date(given[0]), "days": CYCLE_WINDOW_DAYS}))
    if reason == MissedCycleReason.OTHER and not (reason_detail or "").strip():
        v.append(Violation("reason_detail", "detail_required",
                           gettext('Say why the cycle was missed ("other").')))
    return v


def window_deviation(*, start: date, previous_start: date | None) -> Deviation | None:
    """A cycle more than 7 days before or after previous start + 28 days."""
    planned = planned_start(previous_start)
    if planned is None:
        return None
    offset = (start - planned).days
    if abs(offset) <= CYCLE_WINDOW_DAYS:
        return None
    return Deviation(DeviationKind.WINDOW, 0, WINDOW_TEXT,
                     {"start": start.isoformat(), "offset": f"{offset:+d}", "planned": planned.isoformat(),
                      "interval": str(CYCLE_INTERVAL_DAYS), "window": str(CYCLE_WINDOW_DAYS)})


def visit_window(previous_start: date | None) -> tuple[date, date, date] | None:
    """(planned start, earliest, latest) of the cycle after one started on ``previous_start``:
    the dates :func:`window_deviation` accepts (None for a first cycle)."""
    planned = planned_start(previous_start)
    if planned is None:
        return None
    return (planned, planned - timedelta(days=CYCLE_WINDOW_DAYS), planned + timedelta(days=CYCLE_WINDOW_DAYS))


#: Day 2 is given the day after day 1 (the two days are consecutive).
DAY2_AFTER_DAY1_DAYS = 1


def expected_day2_date(day1: date | None) -> date | None:
    """The date day 2 should be given: the day after day 1."""
    return None if day1 is None else day1 + timedelta(days=DAY2_AFTER_DAY1_DAYS)


def day_deviations(*, day1: date | None, day2: date | None) -> list[Deviation]:
    """Day 2 missing, or not the day after day 1."""
    if day1 is not None and day2 is None:
        return [Deviation(DeviationKind.MISSING_DAY, 2, MISSING_DAY_TEXT, {"day": "2"})]
    if day1 is None and day2 is not None:
        return [Deviation(DeviationKind.MISSING_DAY, 1, MISSING_DAY_TEXT, {"day": "1"})]
    if day1 and day2 and day2 != expected_day2_date(day1):
        return [Deviation(DeviationKind.NON_CONSECUTIVE, 2, NON_CONSECUTIVE_TEXT, {"days": str((day2 - day1).days)})]
    return []


@dataclass(frozen=True)
class InfusionFacts:
    day: int
    infusion_date: date
    dose_g: Decimal | None
    max_rate_ml_per_h: Decimal | None


def cycle_deviations(*, start: date, previous_start: date | None, weight_kg, dosing_weight,
                     at_risk: bool, infusions: list[InfusionFacts]) -> list[Deviation]:
    """Every protocol deviation of one cycle, from its facts."""
    found = []
    window = window_deviation(start=start, previous_start=previous_start)
    if window:
        found.append(window)
    by_day = {i.day: i for i in infusions}
    found += day_deviations(day1=by_day[1].infusion_date if 1 in by_day else None,
                            day2=by_day[2].infusion_date if 2 in by_day else None)
    prescribed = prescribed_daily_dose_g(dosing_weight) if dosing_weight else None
    for infusion in sorted(infusions, key=lambda i: i.day):
        for deviation in (
            dose_deviation(day=infusion.day, given_g=infusion.dose_g, prescribed_g=prescribed),
            rate_deviation(day=infusion.day, rate_ml_per_h=infusion.max_rate_ml_per_h,
                           weight_kg=weight_kg, at_risk=at_risk),
        ):
            if deviation:
                found.append(deviation)
    return found


# --- Derived facts, stored on the rows -----------------------------------------

@dataclass(frozen=True)
class CycleDerived:
    """What the services store on a treatment cycle (None: not derivable)."""

    dosing_weight_kg: Decimal | None
    prescribed_daily_dose_g: Decimal | None
    planned_start_date: date | None
    window_offset_days: int | None
    within_window: bool | None
    at_risk: bool
    rules_version: str = RULES_VERSION


def derive_cycle(*, start_date: date | None, previous_start: date | None, weight_kg, height_cm,
                 dosing_basis, sex, renal_risk: bool, renal_risk_since: date | None,
                 thrombotic_risk: bool, thrombotic_risk_since: date | None) -> CycleDerived:
    """Every derived fact of one cycle, from plain inputs: the dosing weight (none
    without a weight, or on adjusted weight without a height or a sex), the
    prescribed daily dose, the planned start (previous cycle + the interval), the
    offset from it and whether it is within the window, and the infusion risk
    in force on the cycle's start date."""
    dosing = None
    if weight_kg and (dosing_basis == DosingBasis.ACTUAL
                      or (dosing_basis == DosingBasis.ADJUSTED and height_cm and sex in IBW_BASE_KG)):
        dosing = dosing_weight_kg(dosing_basis, weight_kg=weight_kg, height_cm=height_cm, sex=sex)
    planned = planned_start(previous_start)
    offset = (start_date - planned).days if planned is not None and start_date is not None else None
    within = None if offset is None else window_deviation(start=start_date, previous_start=previous_start) is None
    return CycleDerived(
        dosing_weight_kg=dosing,
        prescribed_daily_dose_g=None if dosing is None else prescribed_daily_dose_g(dosing),
        planned_start_date=planned, window_offset_days=offset, within_window=within,
        at_risk=risk_in_force(start_date, renal_risk, renal_risk_since, thrombotic_risk, thrombotic_risk_since),
    )


@dataclass(frozen=True)
class InfusionDerived:
    """What the services store on an infusion day (None: not derivable)."""

    prescribed_dose_g: Decimal | None
    dose_difference_pct: Decimal | None
    dose_within_tolerance: bool | None
    rate_ml_per_kg_min: Decimal | None
    rate_limit_ml_per_kg_min: Decimal
    rate_within_limit: bool | None
    rules_version: str = RULES_VERSION


def derive_infusion(*, day: int, dose_g, max_rate_ml_per_h, weight_kg, prescribed_daily_dose_g,
                    at_risk: bool) -> InfusionDerived:
    """Every derived fact of one infusion day, from plain inputs and its cycle's
    derived facts (``prescribed_daily_dose_g``, ``at_risk``): the prescribed dose,
    the difference from it in percent and whether it is within the tolerance (as
    :func:`dose_deviation` judges), the rate per kg of actual body weight, its limit
    and whether it is within it (as :func:`rate_deviation` judges)."""
    prescribed = prescribed_daily_dose_g
    difference = dose_difference(dose_g, prescribed)
    within_tolerance = None
    if prescribed is not None and dose_g is not None:
        within_tolerance = dose_deviation(day=day, given_g=dose_g, prescribed_g=prescribed) is None
    rate = within_limit = None
    if max_rate_ml_per_h is not None and weight_kg:
        rate = rate_ml_per_kg_min(max_rate_ml_per_h, weight_kg)
        within_limit = rate_deviation(day=day, rate_ml_per_h=max_rate_ml_per_h, weight_kg=weight_kg,
                                      at_risk=at_risk) is None
    return InfusionDerived(
        prescribed_dose_g=prescribed,
        dose_difference_pct=None if difference is None else q1(difference * 100),
        dose_within_tolerance=within_tolerance, rate_ml_per_kg_min=rate,
        rate_limit_ml_per_kg_min=rate_limit_ml_per_kg_min(at_risk), rate_within_limit=within_limit,
    )


CYCLE_DERIVED_FIELDS = tuple(CycleDerived.__dataclass_fields__)
INFUSION_DERIVED_FIELDS = tuple(InfusionDerived.__dataclass_fields__)


# --- Hard rules (field errors) -----------------------------------------------

def cycle_violations(*, today, start_date, weight_kg, height_cm, dosing_basis,
                     enrolment_date, withdrawal_date, previous_start, next_start,
                     missed_planned=()) -> list[Violation]:
    """``missed_planned``: the planned dates of the patient's current missed cycles; a
    cycle given within a window of one of them contradicts it (the converse of
    :func:`missed_cycle_violations`' "cycle_given"): the missed cycle is voided first."""
    v = future_date("start_date", start_date, today, gettext("The cycle start date"))
    if start_date:
        missed = sorted(d for d in missed_planned if abs((d - start_date).days) <= CYCLE_WINDOW_DAYS)
        if missed:
            v.append(Violation("start_date", "cycle_missed",
                               gettext("A missed cycle is recorded for %(date)s, within %(days)s days of this "
                                       "date: void it first if this cycle was given.")
                               % {"date": show_date(missed[0]), "days": CYCLE_WINDOW_DAYS}))
    if weight_kg is not None and not (0 < Decimal(weight_kg) <= WEIGHT_MAX_KG):
        v.append(Violation("weight_kg", "implausible_weight",
                           gettext("Weight must be above 0 and at most %(max)s kg.")
                           % {"max": show_number(WEIGHT_MAX_KG)}))
    if height_cm is not None and not (HEIGHT_MIN_CM <= Decimal(height_cm) <= HEIGHT_MAX_CM):
        v.append(Violation("height_cm", "implausible_height",
                           gettext("Height must be between %(min)s and %(max)s cm.")
                           % {"min": show_number(HEIGHT_MIN_CM), "max": show_number(HEIGHT_MAX_CM)}))
    if dosing_basis == DosingBasis.ADJUSTED and height_cm is None:
        v.append(Violation("height_cm", "height_required",
                           gettext("Adjusted body weight needs the height (Devine ideal body weight).")))
    if start_date and enrolment_date and start_date < enrolment_date:
        v.append(Violation("start_date", "before_enrolment",
                           gettext("A treatment cycle cannot start before enrolment.")))
    if start_date and withdrawal_date and start_date > withdrawal_date:
        v.append(Violation("start_date", "after_withdrawal",
                           gettext("The patient was withdrawn before this date.")))
    if start_date and previous_start and start_date <= previous_start:
        v.append(Violation("start_date", "before_previous_cycle",
                           gettext("The cycle must start after the previous cycle (%(date)s).")
                           % {"date": show_date(previous_start)}))
    if start_date and next_start and start_date >= next_start:
        v.append(Violation("start_date", "after_next_cycle",
                           gettext("The cycle must start before the next cycle (%(date)s).")
                           % {"date": show_date(next_start)}))
    return v


def infusion_violations(*, today, day, infusion_date, cycle_start, enrolment_date, withdrawal_date,
                        start_time, end_time, dose_g, volume_ml, concentration_pct,
                        max_rate_ml_per_h) -> list[Violation]:
    v = future_date("infusion_date", infusion_date, today, gettext("An infusion date"))
    if infusion_date and enrolment_date and infusion_date < enrolment_date:
        v.append(Violation("infusion_date", "before_enrolment",
                           gettext("An infusion cannot be given before enrolment.")))
    if infusion_date and withdrawal_date and infusion_date > withdrawal_date:
        v.append(Violation("infusion_date", "after_withdrawal",
                           gettext("The patient was withdrawn before this infusion date.")))
    if infusion_date and cycle_start:
        if day == 1 and infusion_date != cycle_start:
            v.append(Violation("infusion_date", "day1_not_cycle_start",
                               gettext("Day 1 is given on the cycle start date (%(date)s).")
                               % {"date": show_date(cycle_start)}))
        if day == 2 and infusion_date <= cycle_start:
            v.append(Violation("infusion_date", "day2_not_after_day1",
                               gettext("Day 2 must be after day 1.")))
    if start_time and end_time and end_time <= start_time:
        v.append(Violation("end_time", "end_before_start", gettext("The infusion must end after it starts.")))
    for name, value, message in (
            ("dose_g", dose_g, gettext_noop("The dose must be above 0.")),
            ("volume_ml", volume_ml, gettext_noop("The volume must be above 0.")),
            ("max_rate_ml_per_h", max_rate_ml_per_h, gettext_noop("The rate must be above 0."))):
        if value is not None and Decimal(value) <= 0:
            v.append(Violation(name, "not_positive", gettext(message)))
    if concentration_pct is not None and not (0 < Decimal(concentration_pct) <= 20):
        v.append(Violation("concentration_pct", "implausible_concentration",
                           gettext("IVIG concentration is above 0 and at most 20 %.")))
    if dose_g and volume_ml and concentration_pct and Decimal(volume_ml) > 0:
        # grams = mL x % / 100; a dose more than 10 % off the volume given is a typing error.
        expected = Decimal(volume_ml) * Decimal(concentration_pct) / 100
        if abs(expected - Decimal(dose_g)) > expected * Decimal("0.10"):
            v.append(Violation("volume_ml", "volume_dose_mismatch",
                               gettext("%(volume)s mL of a %(concentration)s %% product is %(expected)s g, "
                                       "not %(dose)s g: check the dose, volume or concentration.")
                               % {"volume": show_number(volume_ml), "concentration": show_number(concentration_pct),
                                  "expected": show_number(q1(expected)), "dose": show_number(dose_g)}))
    return v


# --- Assessments -------------------------------------------------------------

class MMTScale(TextChoices):
    KENDALL = "kendall", _("Kendall 0-10 (MMT-8 total 0-80)")  # 0-10 per muscle group
    MRC = "mrc", _("MRC 0-5 (total 0-40)")  # 0-5 per muscle group


MMT_MAX_GRADE = {MMTScale.KENDALL: 10, MMTScale.MRC: 5}
#: MMT-8 muscle groups (tested on the right side unless it cannot be).
MMT8_GROUPS = (
    ("mmt_neck_flexors", "Neck flexors"),
    ("mmt_deltoid", "Deltoid (middle)"),
    ("mmt_biceps", "Biceps"),
    ("mmt_wrist_extensors", "Wrist extensors"),
    ("mmt_gluteus_maximus", "Gluteus maximus"),
    ("mmt_gluteus_medius", "Gluteus medius"),
    ("mmt_quadriceps", "Quadriceps"),
    ("mmt_ankle_dorsiflexors", "Ankle dorsiflexors"),
)
#: Kendall 0-10 to MRC (DOMAIN.md section 3); "T" (trace) is Kendall 0.5 in some forms.
KENDALL_TO_MRC = {0: "0", 1: "2-", 2: "2", 3: "2+", 4: "3-", 5: "3", 6: "3+", 7: "4-", 8: "4",
                  9: "4+", 10: "5"}


def mmt_total(grades, reported=None) -> int | None:
    """The MMT-8 total, the one every report and export reads (stored as
    ``Assessment.mmt_total``): the sum of the eight grades when all eight were
    tested; else the total reported on its own (``mmt_total_reported``, when only
    the total was recorded, as in the reference publication) when no grade was
    entered; else None."""
    grades = list(grades)
    if len(grades) == len(MMT8_GROUPS) and all(g is not None for g in grades):
        return sum(grades)
    if reported is not None and all(g is None for g in grades):
        return reported
    return None


def mmt_total_source(grades, reported=None) -> str | None:
    """Where ``mmt_total`` comes from: "grades" (their sum), "reported" (a total
    recorded without its grades) or None (no total)."""
    grades = list(grades)
    if len(grades) == len(MMT8_GROUPS) and all(g is not None for g in grades):
        return "grades"
    if reported is not None and all(g is None for g in grades):
        return "reported"
    return None


def mmt_reported_total_violations(*, scale, grades, reported) -> list[Violation]:
    """A total recorded without its grades: alone (never with grades, which
    make their own total) and within the scale (0-80 Kendall, 0-40 MRC)."""
    if reported is None:
        return []
    if any(g is not None for g in grades):
        return [Violation("mmt_total_reported", "grades_and_total",
                          gettext("Enter the eight grades or the total, not both."))]
    top = mmt_max_total(scale) if scale else None
    if top is not None and not (0 <= reported <= top):
        return [Violation("mmt_total_reported", "total_out_of_scale",
                          gettext("An MMT-8 total on this scale is 0 to %(max)s.") % {"max": top})]
    return []


def mmt_max_total(scale) -> int:
    return MMT_MAX_GRADE[MMTScale(scale)] * len(MMT8_GROUPS)


def percent_change(baseline, value) -> Decimal | None:
    """(value - baseline) / baseline x 100, one decimal; None without a baseline."""
    if baseline in (None, 0) or value is None:
        return None
    return q1((Decimal(value) - Decimal(baseline)) / Decimal(baseline) * 100)


def times_upper_limit(value, uln) -> Decimal | None:
    """How many times the laboratory's upper limit of normal a result is (value / ULN), or
    None without a value or a positive upper limit."""
    if value is None or uln is None or Decimal(uln) <= 0:
        return None
    return Decimal(value) / Decimal(uln)


@dataclass(frozen=True)
class Lab:
    """One laboratory result with the laboratory's own reference range."""

    label: str
    value_field: str
    value: Decimal | None
    uln_field: str
    uln: Decimal | None
    lln_field: str | None = None
    lln: Decimal | None = None


#: LOINC codes (code system http://loinc.org) of what is measured.
LOINC = {
    "ck": "2157-6",
    "aldolase": "1761-6",
    "ldh": "2532-0",
    "alt": "1742-6",
    "ast": "1920-8",
    "body_weight": "29463-7",
}


def assessment_violations(*, today, assessment_date, cycle_start, is_end_of_treatment,
                          last_cycle_start, enrolment_date, scale, grades: dict,
                          labs: list, globals_: dict, haq, mmt_total_reported=None) -> list[Violation]:
    """``grades``: field -> grade; ``labs``: :class:`Lab` list; ``globals_``: field -> score;
    ``mmt_total_reported``: a total recorded without its grades."""
    v = future_date("assessment_date", assessment_date, today, gettext("The assessment date"))
    v += mmt_reported_total_violations(scale=scale, grades=list(grades.values()), reported=mmt_total_reported)
    if assessment_date and cycle_start and assessment_date > cycle_start:
        v.append(Violation("assessment_date", "after_day1",
                           gettext("The pre-treatment assessment must be on or before day 1 of the cycle.")))
    if assessment_date and enrolment_date and assessment_date < enrolment_date and not cycle_start:
        v.append(Violation("assessment_date", "before_enrolment",
                           gettext("An assessment cannot be before enrolment.")))
    if is_end_of_treatment and assessment_date and last_cycle_start and assessment_date <= last_cycle_start:
        v.append(Violation("assessment_date", "eot_before_last_cycle",
                           gettext("The end-of-treatment visit comes after the last cycle (%(date)s).")
                           % {"date": show_date(last_cycle_start)}))
    top = MMT_MAX_GRADE[MMTScale(scale)] if scale else None
    for name, grade in grades.items():
        if grade is not None and top is not None and not (0 <= grade <= top):
            message = (gettext("A Kendall grade is 0 to %(max)s.") if top == 10
                       else gettext("An MRC grade is 0 to %(max)s."))
            v.append(Violation(name, "grade_out_of_scale", message % {"max": top}))
    for lab in labs:
        if lab.value is not None and Decimal(lab.value) < 0:
            v.append(Violation(lab.value_field, "negative",
                               gettext("%(lab)s cannot be negative.") % {"lab": lab.label}))
        if lab.uln is not None and Decimal(lab.uln) <= 0:
            v.append(Violation(lab.uln_field, "not_positive", gettext("The upper limit must be above 0.")))
        if lab.lln is not None and lab.uln is not None and Decimal(lab.lln) > Decimal(lab.uln):
            v.append(Violation(lab.lln_field, "range_inverted",
                               gettext("The lower limit is above the upper limit.")))
        if lab.value is not None and lab.uln is None:
            v.append(Violation(lab.uln_field, "range_required",
                               gettext("Give the laboratory's upper limit of normal with the %(lab)s.")
                               % {"lab": lab.label}))
    for name, value in globals_.items():
        if value is not None and not (0 <= Decimal(value) <= GLOBAL_MAX):
            v.append(Violation(name, "out_of_range", gettext("A global activity score is 0 to %(max)s.")
                               % {"max": show_number(GLOBAL_MAX)}))
    if haq is not None and not (0 <= Decimal(haq) <= HAQ_MAX):
        v.append(Violation("haq", "out_of_range", gettext("The HAQ disability index is 0 to %(max)s.")
                           % {"max": show_number(HAQ_MAX)}))
    return v
