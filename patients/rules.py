"""Clinical rules for patients, diagnoses and malignancy history.

Pure functions: no database (the coded answers are Django ``TextChoices``, one
per concept, defined here and used by the models, forms, API and exports). Dates are ``datetime.date``; scores are
``Decimal``. ``Model.clean()`` calls the ``*_violations`` functions, so forms,
admin, API and imports share one rule set. Sources: ../shared/DOMAIN.md
sections 1 and 2 (Bohan & Peter 1975; 2017 EULAR/ACR classification criteria).
"""

from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from django.db.models import TextChoices
from django.utils.translation import gettext_lazy as _

from core.rules import Violation, completed_years, future_date

#: The version of these rules that derived a stored fact (``rules_version`` on
#: Patient, Diagnosis and MalignancyHistory). Raise it with any change of a rule
#: below, then run ``manage.py recompute_derived``.
RULES_VERSION = "2026.12"

# --- Eligibility -------------------------------------------------------------

ADULT_AGE_YEARS = 18
#: "Active, recent" myopathy: symptom onset at most this many months before
#: enrolment. The reference study enrolled 1 month to 3 years of disease; the
#: protocol text does not give a cut-off, so this is the study's documented
#: choice (DOMAIN.md section 1).
RECENT_ONSET_MAX_MONTHS = 36
#: Average month length used for durations in months (365.25 / 12).
DAYS_PER_MONTH = Decimal("30.4375")


class PatientStatus(TextChoices):
    SCREENING = "screening", _("Screening")
    ON_STUDY = "on_study", _("On study")
    COMPLETED = "completed", _("Completed")
    WITHDRAWN = "withdrawn", _("Withdrawn")


#: Allowed status changes; anything else is refused.
STATUS_TRANSITIONS = {
    PatientStatus.SCREENING: {PatientStatus.ON_STUDY, PatientStatus.WITHDRAWN},
    PatientStatus.ON_STUDY: {PatientStatus.COMPLETED, PatientStatus.WITHDRAWN},
    PatientStatus.COMPLETED: set(),
    PatientStatus.WITHDRAWN: set(),
}


def status_change_allowed(old, new):
    old, new = PatientStatus(old), PatientStatus(new)
    return old == new or new in STATUS_TRANSITIONS[old]


def age_bounds(on: date, birth_year: int, birth_date: date | None = None):
    """(youngest, oldest) possible age in whole years on ``on``.

    With a full date of birth both are the exact age; with the year only the
    birthday may or may not have passed.
    """
    if birth_date is not None:
        age = completed_years(birth_date, on)
        return age, age
    oldest = on.year - birth_year
    youngest = oldest if (on.month, on.day) == (12, 31) else oldest - 1
    return youngest, oldest


def age_at(on: date, birth_year: int, birth_date: date | None = None) -> int:
    """Age in whole years on ``on``. With the year of birth only, the birthday
    is imputed to 1 July (mid-year), the usual convention for partial dates."""
    if birth_date is None:
        birth_date = date(birth_year, 7, 1)
    return completed_years(birth_date, on)


def months_between(start: date, end: date) -> Decimal:
    """Months from ``start`` to ``end``, one decimal (average month length)."""
    days = Decimal((end - start).days)
    return (days / DAYS_PER_MONTH).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def disease_duration_months(symptom_onset: date, first_infusion: date) -> Decimal:
    """Disease duration before IVIG: symptom onset to the first infusion."""
    return months_between(symptom_onset, first_infusion)


def patient_facts(*, birth_year: int, birth_date: date | None, enrolment_date: date,
                  symptom_onset_date: date, first_infusion: date | None, last_infusion: date | None,
                  end_of_treatment_visit: date | None) -> dict:
    """Every derived fact of a patient, by the names of the stored columns."""
    return {
        "age_at_enrolment": age_at(enrolment_date, birth_year, birth_date),
        "age_at_onset": age_at(symptom_onset_date, birth_year, birth_date),
        "disease_duration_at_enrolment_months": months_between(symptom_onset_date, enrolment_date),
        "disease_duration_months": (disease_duration_months(symptom_onset_date, first_infusion)
                                    if first_infusion is not None else None),
        "first_infusion_date": first_infusion,
        "last_infusion_date": last_infusion,
        "end_of_treatment_date": end_of_treatment_visit,
    }


def patient_violations(
    *,
    today: date,
    birth_year: int | None,
    birth_date: date | None,
    consent_date: date | None,
    enrolment_date: date | None,
    symptom_onset_date: date | None,
    active_myopathy: bool,
    ctd_associated: bool,
    status: str,
    previous_status: str | None,
    withdrawal_date: date | None,
    withdrawal_reason: str,
) -> list[Violation]:
    """Every date, eligibility and status rule for a patient record."""
    v = []
    v += future_date("birth_date", birth_date, today, _("The date of birth"))
    if birth_year is not None and birth_year > today.year:
        v.append(Violation("birth_year", "in_future", _("The year of birth cannot be in the future.")))
    if birth_date and birth_year and birth_date.year != birth_year:
        v.append(Violation("birth_year", "birth_year_mismatch",
                           _("The year of birth does not match the date of birth.")))
    v += future_date("consent_date", consent_date, today, _("The consent date"))
    v += future_date("enrolment_date", enrolment_date, today, _("The enrolment date"))
    v += future_date("symptom_onset_date", symptom_onset_date, today, _("The symptom onset date"))

    if consent_date and enrolment_date and consent_date > enrolment_date:
        v.append(Violation("consent_date", "consent_after_enrolment",
                           _("Consent must be given on or before the enrolment date.")))
    if symptom_onset_date and enrolment_date and symptom_onset_date > enrolment_date:
        v.append(Violation("symptom_onset_date", "onset_after_enrolment",
                           _("Symptom onset must be on or before the enrolment date.")))
    born = birth_date or (date(birth_year, 1, 1) if birth_year and birth_year <= today.year else None)
    if born and symptom_onset_date and symptom_onset_date < born:
        v.append(Violation("symptom_onset_date", "onset_before_birth",
                           _("Symptom onset cannot be before birth.")))

    # Eligibility: adult at consent.
    if birth_year and consent_date and not any(x.field.startswith("birth") for x in v):
        # (a year in the future was reported above, so the dates below exist)
        youngest, _oldest = age_bounds(consent_date, birth_year, birth_date)
        if youngest < ADULT_AGE_YEARS:
            field = "birth_date" if birth_date else "birth_year"
            if birth_date or age_bounds(consent_date, birth_year)[1] < ADULT_AGE_YEARS:
                msg = _("The patient was under %(age)s at consent; only adults are eligible.") % {
                    "age": ADULT_AGE_YEARS}
            else:
                msg = _("With the year of birth alone the patient may have been under %(age)s at consent: "
                        "enter the full date of birth.") % {"age": ADULT_AGE_YEARS}
            v.append(Violation(field, "under_age", msg))
    # Eligibility: active, recent myopathy.
    if not active_myopathy:
        v.append(Violation("active_myopathy", "not_active",
                           _("Only patients with active inflammatory myopathy are eligible.")))
    if (symptom_onset_date and enrolment_date and symptom_onset_date <= enrolment_date
            and months_between(symptom_onset_date, enrolment_date) > RECENT_ONSET_MAX_MONTHS):
        v.append(Violation("symptom_onset_date", "not_recent",
                           _("Symptom onset more than %(months)s months before enrolment: the myopathy is not "
                             "recent enough for this study.") % {"months": RECENT_ONSET_MAX_MONTHS}))
    # Eligibility: no connective-tissue-disease-associated myositis.
    if ctd_associated:
        v.append(Violation("ctd_associated", "ctd_associated",
                           _("Myositis associated with a connective tissue disease is an "
                           "exclusion criterion.")))

    # Status and withdrawal.
    if previous_status is None and status not in (PatientStatus.SCREENING, PatientStatus.ON_STUDY):
        v.append(Violation("status", "invalid_initial_status",
                           _("A new patient starts in screening or on study.")))
    elif previous_status and not status_change_allowed(previous_status, status):
        v.append(Violation("status", "transition_not_allowed",
                           _("A patient cannot go from %(old)s to %(new)s.") % {
                               "old": PatientStatus(previous_status).label.lower(),
                               "new": PatientStatus(status).label.lower()}))
    if status == PatientStatus.WITHDRAWN:
        if not withdrawal_date:
            v.append(Violation("withdrawal_date", "required", _("Give the date of withdrawal.")))
        if not (withdrawal_reason or "").strip():
            v.append(Violation("withdrawal_reason", "required", _("Give the reason for withdrawal.")))
    elif withdrawal_date or (withdrawal_reason or "").strip():
        v.append(Violation("withdrawal_date", "not_withdrawn",
                           _("Only a withdrawn patient has a withdrawal date and reason.")))
    v += future_date("withdrawal_date", withdrawal_date, today, _("The withdrawal date"))
    if withdrawal_date and enrolment_date and withdrawal_date < enrolment_date:
        v.append(Violation("withdrawal_date", "before_enrolment",
                           _("Withdrawal cannot be before enrolment.")))
    return v


# --- Bohan & Peter (1975) ----------------------------------------------------

class Myopathy(TextChoices):
    PM = "PM", _("Polymyositis (PM)")
    DM = "DM", _("Dermatomyositis (DM)")


class Certainty(TextChoices):
    """Bohan & Peter certainty (stored on ``Diagnosis.certainty``)."""

    DEFINITE = "definite", _("definite")
    PROBABLE = "probable", _("probable")
    POSSIBLE = "possible", _("possible")
    NOT_MET = "not met", _("not met")


def bohan_peter_certainty(kind, *, weakness, biopsy, enzymes, emg, rash) -> Certainty:
    """Certainty of PM or DM from the five Bohan & Peter criteria.

    PM: definite = all of criteria 1-4, probable = 3, possible = 2.
    DM: needs the rash (5); definite = rash + 3 of 1-4, probable = + 2,
    possible = + 1.
    """
    n = sum(bool(c) for c in (weakness, biopsy, enzymes, emg))
    if Myopathy(kind) == Myopathy.DM:
        if not rash:
            return Certainty.NOT_MET
        ladder = {3: Certainty.DEFINITE, 2: Certainty.PROBABLE, 1: Certainty.POSSIBLE}
    else:
        ladder = {4: Certainty.DEFINITE, 3: Certainty.PROBABLE, 2: Certainty.POSSIBLE}
    for needed, certainty in sorted(ladder.items(), reverse=True):
        if n >= needed:
            return certainty
    return Certainty.NOT_MET


# --- 2017 EULAR/ACR classification criteria ----------------------------------

D = Decimal
#: variable -> (weight without biopsy, weight with biopsy); None = not scored.
EULAR_ACR_WEIGHTS = {
    "age_onset_18_to_40": (D("1.3"), D("1.5")),
    "age_onset_40_plus": (D("2.1"), D("2.2")),
    "upper_limb_weakness": (D("0.7"), D("0.7")),
    "lower_limb_weakness": (D("0.8"), D("0.5")),
    "neck_flexors_weaker": (D("1.9"), D("1.6")),
    "legs_proximal_weaker": (D("0.9"), D("1.2")),
    "heliotrope_rash": (D("3.1"), D("3.2")),
    "gottron_papules": (D("2.1"), D("2.7")),
    "gottron_sign": (D("3.3"), D("3.7")),
    "dysphagia": (D("0.7"), D("0.6")),
    "anti_jo1": (D("3.9"), D("3.8")),
    "enzymes_raised": (D("1.3"), D("1.4")),
    "biopsy_endomysial_infiltrate": (None, D("1.7")),
    "biopsy_perimysial_infiltrate": (None, D("1.2")),
    "biopsy_perifascicular_atrophy": (None, D("1.9")),
    "biopsy_rimmed_vacuoles": (None, D("3.1")),
}
#: The clinical variables a user records (age comes from the patient's dates).
EULAR_ACR_CLINICAL_VARIABLES = tuple(
    k for k, (without, _with_biopsy) in EULAR_ACR_WEIGHTS.items() if without is not None and not k.startswith("age")
)
EULAR_ACR_BIOPSY_VARIABLES = tuple(k for k in EULAR_ACR_WEIGHTS if k.startswith("biopsy_"))

#: Class cut-offs (without biopsy, with biopsy).
EULAR_ACR_POSSIBLE_MIN = (D("5.3"), D("6.5"))
EULAR_ACR_PROBABLE_MIN = (D("5.5"), D("6.7"))
EULAR_ACR_DEFINITE_MIN = (D("7.5"), D("8.7"))


class IIMClass(TextChoices):
    """2017 EULAR/ACR class (stored on ``Diagnosis.eular_acr_class``)."""

    NOT_IIM = "not IIM", _("not IIM")
    POSSIBLE = "possible IIM", _("possible IIM")
    PROBABLE = "probable IIM", _("probable IIM")
    DEFINITE = "definite IIM", _("definite IIM")


def eular_acr_score(*, age_at_onset: int | None, biopsy: bool, findings) -> Decimal:
    """Total 2017 EULAR/ACR score.

    ``findings``: the names of the variables present (see
    ``EULAR_ACR_WEIGHTS``); biopsy variables count only when ``biopsy``.
    An age at first symptom under 18 scores nothing (adult criteria).
    """
    col = 1 if biopsy else 0
    present = set(findings)
    if age_at_onset is not None:
        if 18 <= age_at_onset < 40:
            present.add("age_onset_18_to_40")
        elif age_at_onset >= 40:
            present.add("age_onset_40_plus")
    total = D("0")
    for name in present:
        weight = EULAR_ACR_WEIGHTS[name][col]
        if weight is not None:
            total += weight
    return total


def eular_acr_class(score: Decimal, *, biopsy: bool) -> IIMClass:
    col = 1 if biopsy else 0
    if score >= EULAR_ACR_DEFINITE_MIN[col]:
        return IIMClass.DEFINITE
    if score >= EULAR_ACR_PROBABLE_MIN[col]:
        return IIMClass.PROBABLE
    if score >= EULAR_ACR_POSSIBLE_MIN[col]:
        return IIMClass.POSSIBLE
    return IIMClass.NOT_IIM


def typical_dm_rash(*, heliotrope_rash, gottron_papules, gottron_sign) -> bool:
    """Bohan & Peter criterion 5: heliotrope rash, Gottron's papules or sign."""
    return bool(heliotrope_rash or gottron_papules or gottron_sign)


def diagnosis_facts(*, kind: str, age_at_onset: int | None, criteria: dict) -> dict:
    """Every derived fact of a diagnosis, by the names of the stored columns.

    ``criteria``: the recorded booleans by field name (Bohan & Peter ``bp_*``,
    the EULAR/ACR clinical variables, ``biopsy_performed`` and the biopsy
    findings). B&P criterion 3 (raised enzymes) is the EULAR/ACR "enzymes raised".
    """
    rash = typical_dm_rash(heliotrope_rash=criteria.get("heliotrope_rash"),
                           gottron_papules=criteria.get("gottron_papules"),
                           gottron_sign=criteria.get("gottron_sign"))
    findings = [n for n in EULAR_ACR_CLINICAL_VARIABLES + EULAR_ACR_BIOPSY_VARIABLES
                if n != "enzymes_raised" and criteria.get(n)]
    if criteria.get("bp_enzymes"):
        findings.append("enzymes_raised")
    biopsy = bool(criteria.get("biopsy_performed"))
    score = eular_acr_score(age_at_onset=age_at_onset, biopsy=biopsy, findings=findings)
    return {
        "rash": rash,
        "certainty": bohan_peter_certainty(
            kind, weakness=criteria.get("bp_weakness"), biopsy=criteria.get("bp_biopsy"),
            enzymes=criteria.get("bp_enzymes"), emg=criteria.get("bp_emg"), rash=rash),
        "eular_acr_score": score,
        "eular_acr_class": eular_acr_class(score, biopsy=biopsy),
    }


#: The recorded fields ``diagnosis_facts`` reads.
DIAGNOSIS_CRITERIA = ("bp_weakness", "bp_biopsy", "bp_enzymes", "bp_emg", "biopsy_performed",
                      *(n for n in EULAR_ACR_CLINICAL_VARIABLES if n != "enzymes_raised"),
                      *EULAR_ACR_BIOPSY_VARIABLES)


def diagnosis_violations(
    *,
    today: date,
    kind: str,
    certainty: Certainty,
    rash: bool,
    biopsy_performed: bool,
    biopsy_myositis: bool,
    biopsy_findings,
    diagnosis_date: date | None,
    symptom_onset_date: date | None,
) -> list[Violation]:
    v = []
    if Myopathy(kind) == Myopathy.DM and not rash:
        v.append(Violation("kind", "dm_requires_rash",
                           _("Dermatomyositis needs the typical rash (heliotrope rash, Gottron's "
                           "papules or Gottron's sign): Bohan & Peter criterion 5.")))
    elif Myopathy(kind) == Myopathy.PM and rash:
        v.append(Violation("kind", "pm_with_rash",
                           _("A typical dermatomyositis rash is recorded: the diagnosis is DM, not PM.")))
    elif certainty == Certainty.NOT_MET:
        v.append(Violation("kind", "criteria_not_met",
                           _("The Bohan & Peter criteria are not met: PM needs at least 2 of "
                           "criteria 1-4, DM the rash and at least 1 of criteria 1-4.")))
    if not biopsy_performed:
        if biopsy_myositis:
            v.append(Violation("bp_biopsy", "no_biopsy",
                               _("Biopsy evidence needs a muscle biopsy: tick 'Muscle biopsy performed'.")))
        for name in biopsy_findings:
            v.append(Violation(name, "no_biopsy",
                               _("A biopsy finding needs a muscle biopsy: tick 'Muscle biopsy performed'.")))
    v += future_date("diagnosis_date", diagnosis_date, today, _("The diagnosis date"))
    if diagnosis_date and symptom_onset_date and diagnosis_date < symptom_onset_date:
        v.append(Violation("diagnosis_date", "before_onset",
                           _("The diagnosis cannot precede the symptom onset.")))
    return v


# --- Malignancy --------------------------------------------------------------

class MalignancyTiming(TextChoices):
    """When a malignancy was diagnosed (stored on ``MalignancyHistory.timing``)."""

    BEFORE = "before", _("before")
    DURING = "during", _("during")
    AFTER = "after", _("after")


def treatment_end(*, last_infusion: date | None, end_of_treatment_visit: date | None) -> date | None:
    """The end of IVIG treatment: the end-of-treatment visit; the last infusion
    only while no end-of-treatment visit exists. Whatever the patient's status."""
    return end_of_treatment_visit if end_of_treatment_visit is not None else last_infusion


def malignancy_timing(
    diagnosed: date, first_infusion: date | None, treatment_end: date | None
) -> MalignancyTiming:
    """When a malignancy was diagnosed relative to IVIG treatment.

    Before the first infusion (or while no infusion has been given yet);
    during treatment (from the first infusion to its end, inclusive); after
    the end of treatment (``treatment_end``: the end-of-treatment visit, else
    the last infusion).
    """
    if first_infusion is None or diagnosed < first_infusion:
        return MalignancyTiming.BEFORE
    if treatment_end is not None and diagnosed > treatment_end:
        return MalignancyTiming.AFTER
    return MalignancyTiming.DURING


def malignancy_violations(*, today, diagnosis_date, birth_year) -> list[Violation]:
    v = future_date("diagnosis_date", diagnosis_date, today, _("The malignancy diagnosis date"))
    if diagnosis_date and birth_year and diagnosis_date.year < birth_year:
        v.append(Violation("diagnosis_date", "before_birth",
                           _("The malignancy diagnosis cannot be before birth.")))
    return v


def risk_date_violations(*, today, renal_risk, renal_risk_since, thrombotic_risk,
                         thrombotic_risk_since) -> list[Violation]:
    """A renal or thrombotic risk carries the date from which it holds: the cycles
    are judged with the risk in force on their own date (``visits.rules.risk_in_force``)."""
    v = []
    risks = ((renal_risk, renal_risk_since, "renal_risk_since",
              _("Give the date from which the renal risk is known."), _("The renal risk date")),
             (thrombotic_risk, thrombotic_risk_since, "thrombotic_risk_since",
              _("Give the date from which the thrombotic risk is known."), _("The thrombotic risk date")))
    for ticked, since, field, required, what in risks:
        if ticked and since is None:
            v.append(Violation(field, "risk_date_required", required))
        elif since is not None:
            v += future_date(field, since, today, what)
    return v
