"""Every branch of the patients rules, without a database."""

from datetime import date
from decimal import Decimal

import pytest

from patients import rules
from patients.rules import Certainty, IIMClass, MalignancyTiming

TODAY = date(2026, 6, 15)


# --- Bohan & Peter -----------------------------------------------------------

@pytest.mark.parametrize(
    "criteria, expected",
    [
        ((1, 1, 1, 1), Certainty.DEFINITE),
        ((1, 1, 1, 0), Certainty.PROBABLE),
        ((0, 1, 1, 1), Certainty.PROBABLE),
        ((1, 0, 0, 1), Certainty.POSSIBLE),
        ((0, 0, 1, 1), Certainty.POSSIBLE),
        ((1, 0, 0, 0), Certainty.NOT_MET),
        ((0, 0, 0, 0), Certainty.NOT_MET),
    ],
)
@pytest.mark.req("URS-PRT-002")
def test_bohan_peter_pm(criteria, expected):
    w, b, e, m = map(bool, criteria)
    assert rules.bohan_peter_certainty("PM", weakness=w, biopsy=b, enzymes=e, emg=m, rash=False) == expected


@pytest.mark.parametrize(
    "criteria, rash, expected",
    [
        ((1, 1, 1, 1), True, Certainty.DEFINITE),
        ((1, 1, 1, 0), True, Certainty.DEFINITE),
        ((1, 0, 1, 0), True, Certainty.PROBABLE),
        ((0, 0, 0, 1), True, Certainty.POSSIBLE),
        ((0, 0, 0, 0), True, Certainty.NOT_MET),
        ((1, 1, 1, 1), False, Certainty.NOT_MET),
    ],
)
@pytest.mark.req("URS-PRT-002")
def test_bohan_peter_dm(criteria, rash, expected):
    w, b, e, m = map(bool, criteria)
    assert rules.bohan_peter_certainty("DM", weakness=w, biopsy=b, enzymes=e, emg=m, rash=rash) == expected


@pytest.mark.parametrize(
    "signs, expected",
    [({}, False), ({"heliotrope_rash": True}, True), ({"gottron_papules": True}, True),
     ({"gottron_sign": True}, True)],
)
@pytest.mark.req("URS-PRT-002")
def test_typical_rash_is_any_skin_sign(signs, expected):
    base = {"heliotrope_rash": False, "gottron_papules": False, "gottron_sign": False}
    assert rules.typical_dm_rash(**{**base, **signs}) is expected


# --- EULAR/ACR ---------------------------------------------------------------

@pytest.mark.parametrize(
    "age, findings, biopsy, expected",
    [
        (None, [], False, "0"),
        (17, [], False, "0"),
        (18, [], False, "1.3"),
        (39, [], True, "1.5"),
        (40, [], False, "2.1"),
        (40, [], True, "2.2"),
        # A typical DM: age 50, heliotrope, Gottron's papules, proximal weakness, raised CK.
        (50, ["heliotrope_rash", "gottron_papules", "upper_limb_weakness", "lower_limb_weakness",
              "enzymes_raised"], False, "10.1"),
        (50, ["heliotrope_rash", "gottron_papules", "upper_limb_weakness", "lower_limb_weakness",
              "enzymes_raised", "biopsy_perifascicular_atrophy"], True, "12.6"),
        # Biopsy findings only count with a biopsy.
        (30, ["biopsy_rimmed_vacuoles"], False, "1.3"),
        (30, ["biopsy_rimmed_vacuoles"], True, "4.6"),
        (45, ["neck_flexors_weaker", "legs_proximal_weaker", "gottron_sign", "dysphagia",
              "anti_jo1"], False, "12.8"),
        (45, ["neck_flexors_weaker", "legs_proximal_weaker", "gottron_sign", "dysphagia",
              "anti_jo1", "biopsy_endomysial_infiltrate", "biopsy_perimysial_infiltrate"], True,
         "16.0"),
    ],
)
@pytest.mark.req("URS-PRT-003")
def test_eular_acr_score(age, findings, biopsy, expected):
    assert rules.eular_acr_score(age_at_onset=age, biopsy=biopsy, findings=findings) == Decimal(expected)


# DOMAIN.md section 2, copied by hand: (no biopsy, biopsy).
PUBLISHED = {
    "age_onset_18_to_40": ("1.3", "1.5"), "age_onset_40_plus": ("2.1", "2.2"),
    "upper_limb_weakness": ("0.7", "0.7"), "lower_limb_weakness": ("0.8", "0.5"),
    "neck_flexors_weaker": ("1.9", "1.6"), "legs_proximal_weaker": ("0.9", "1.2"),
    "heliotrope_rash": ("3.1", "3.2"), "gottron_papules": ("2.1", "2.7"),
    "gottron_sign": ("3.3", "3.7"), "dysphagia": ("0.7", "0.6"), "anti_jo1": ("3.9", "3.8"),
    "enzymes_raised": ("1.3", "1.4"), "biopsy_endomysial_infiltrate": (None, "1.7"),
    "biopsy_perimysial_infiltrate": (None, "1.2"), "biopsy_perifascicular_atrophy": (None, "1.9"),
    "biopsy_rimmed_vacuoles": (None, "3.1"),
}


@pytest.mark.req("URS-PRT-003")
def test_eular_acr_weights_match_the_published_table():
    as_text = {k: (None if a is None else str(a), str(b)) for k, (a, b) in rules.EULAR_ACR_WEIGHTS.items()}
    assert as_text == PUBLISHED


@pytest.mark.parametrize(
    "score, biopsy, expected",
    [
        ("5.2", False, IIMClass.NOT_IIM),
        ("5.3", False, IIMClass.POSSIBLE),
        ("5.4", False, IIMClass.POSSIBLE),
        ("5.5", False, IIMClass.PROBABLE),
        ("7.4", False, IIMClass.PROBABLE),
        ("7.5", False, IIMClass.DEFINITE),
        ("6.4", True, IIMClass.NOT_IIM),
        ("6.5", True, IIMClass.POSSIBLE),
        ("6.6", True, IIMClass.POSSIBLE),
        ("6.7", True, IIMClass.PROBABLE),
        ("8.6", True, IIMClass.PROBABLE),
        ("8.7", True, IIMClass.DEFINITE),
    ],
)
@pytest.mark.req("URS-PRT-003")
def test_eular_acr_class_cut_offs(score, biopsy, expected):
    assert rules.eular_acr_class(Decimal(score), biopsy=biopsy) == expected


# --- Ages and durations ------------------------------------------------------

@pytest.mark.parametrize(
    "on, birth_year, birth_date, expected",
    [
        (date(2025, 3, 10), 1970, date(1970, 3, 10), 55),  # birthday counts on the day
        (date(2025, 3, 9), 1970, date(1970, 3, 10), 54),
        (date(2025, 6, 30), 1970, None, 54),  # year only: birthday imputed to 1 July
        (date(2025, 7, 1), 1970, None, 55),
    ],
)
@pytest.mark.req("URS-PRT-018")
def test_age_at(on, birth_year, birth_date, expected):
    assert rules.age_at(on, birth_year, birth_date) == expected


@pytest.mark.parametrize(
    "on, birth_year, birth_date, expected",
    [
        (date(2025, 3, 10), 2007, None, (17, 18)),
        (date(2025, 12, 31), 2007, None, (18, 18)),
        (date(2025, 3, 10), 2007, date(2007, 3, 10), (18, 18)),
    ],
)
def test_age_bounds(on, birth_year, birth_date, expected):
    assert rules.age_bounds(on, birth_year, birth_date) == expected


@pytest.mark.parametrize(
    "start, end, months",
    [
        (date(2025, 1, 1), date(2025, 1, 1), "0.0"),
        (date(2025, 1, 1), date(2025, 1, 31), "1.0"),  # 30 days = 0.99 -> 1.0
        (date(2024, 1, 1), date(2025, 1, 1), "12.0"),
        (date(2022, 1, 1), date(2025, 1, 1), "36.0"),
    ],
)
@pytest.mark.req("URS-PRT-018")
def test_months_between_and_disease_duration(start, end, months):
    assert rules.months_between(start, end) == Decimal(months)
    assert rules.disease_duration_months(start, end) == Decimal(months)


# --- Malignancy timing -------------------------------------------------------

@pytest.mark.parametrize(
    "diagnosed, first, end, expected",
    [
        (date(2020, 1, 1), None, None, MalignancyTiming.BEFORE),
        (date(2025, 1, 1), date(2025, 1, 2), None, MalignancyTiming.BEFORE),
        (date(2025, 1, 2), date(2025, 1, 2), None, MalignancyTiming.DURING),
        (date(2025, 6, 1), date(2025, 1, 2), None, MalignancyTiming.DURING),
        (date(2025, 6, 1), date(2025, 1, 2), date(2025, 6, 1), MalignancyTiming.DURING),
        (date(2025, 6, 2), date(2025, 1, 2), date(2025, 6, 1), MalignancyTiming.AFTER),
    ],
)
@pytest.mark.req("URS-PRT-018")
def test_malignancy_timing(diagnosed, first, end, expected):
    assert rules.malignancy_timing(diagnosed, first, end) == expected


def test_malignancy_violations():
    assert rules.malignancy_violations(today=TODAY, diagnosis_date=TODAY, birth_year=1960) == []
    codes = [v.code for v in rules.malignancy_violations(today=TODAY, diagnosis_date=date(2026, 6, 16),
                                                        birth_year=1960)]
    assert codes == ["in_future"]
    codes = [v.code for v in rules.malignancy_violations(today=TODAY, diagnosis_date=date(1959, 1, 1),
                                                        birth_year=1960)]
    assert codes == ["before_birth"]


# --- Patient rules -----------------------------------------------------------

def patient(**overrides):
    values = dict(
        today=TODAY, birth_year=1970, birth_date=None, consent_date=date(2025, 3, 1),
        enrolment_date=date(2025, 3, 10), symptom_onset_date=date(2024, 12, 1),
        active_myopathy=True, ctd_associated=False, status="on_study", previous_status=None,
        withdrawal_date=None, withdrawal_reason="",
    )
    values.update(overrides)
    return {(v.field, v.code) for v in rules.patient_violations(**values)}


def test_valid_patient_has_no_violation():
    assert patient() == set()


@pytest.mark.parametrize(
    "overrides, expected",
    [
        ({"birth_date": date(2026, 6, 16), "birth_year": 2026}, ("birth_date", "in_future")),
        ({"birth_year": 2027}, ("birth_year", "in_future")),
        ({"birth_date": date(1971, 1, 1)}, ("birth_year", "birth_year_mismatch")),
        ({"consent_date": date(2026, 6, 16), "enrolment_date": date(2026, 6, 16)}, ("consent_date", "in_future")),
        ({"enrolment_date": date(2026, 6, 16)}, ("enrolment_date", "in_future")),
        ({"consent_date": date(2025, 3, 11)}, ("consent_date", "consent_after_enrolment")),
        ({"symptom_onset_date": date(2025, 3, 11)}, ("symptom_onset_date", "onset_after_enrolment")),
        ({"symptom_onset_date": date(1969, 12, 31)}, ("symptom_onset_date", "onset_before_birth")),
        ({"birth_year": 2008, "birth_date": date(2008, 3, 2)}, ("birth_date", "under_age")),
        ({"birth_year": 2008}, ("birth_year", "under_age")),  # 16 or 17: certainly a minor
        ({"birth_year": 2007}, ("birth_year", "under_age")),  # 17 or 18: ask for the full date
        ({"active_myopathy": False}, ("active_myopathy", "not_active")),
        ({"symptom_onset_date": date(2022, 3, 1)}, ("symptom_onset_date", "not_recent")),
        ({"ctd_associated": True}, ("ctd_associated", "ctd_associated")),
        ({"status": "completed"}, ("status", "invalid_initial_status")),
        ({"status": "screening", "previous_status": "on_study"}, ("status", "transition_not_allowed")),
        ({"status": "withdrawn", "withdrawal_reason": "moved"}, ("withdrawal_date", "required")),
        ({"status": "withdrawn", "previous_status": "on_study", "withdrawal_date": date(2025, 5, 1)},
         ("withdrawal_reason", "required")),
        ({"withdrawal_date": date(2025, 5, 1)}, ("withdrawal_date", "not_withdrawn")),
        ({"status": "withdrawn", "previous_status": "on_study", "withdrawal_date": date(2026, 6, 16),
          "withdrawal_reason": "x"}, ("withdrawal_date", "in_future")),
        ({"status": "withdrawn", "previous_status": "on_study", "withdrawal_date": date(2025, 3, 9),
          "withdrawal_reason": "x"}, ("withdrawal_date", "before_enrolment")),
    ],
)
@pytest.mark.req("URS-CHK-003", "URS-PRT-001")
def test_patient_violation(overrides, expected):
    assert expected in patient(**overrides)


def test_absurd_birth_year_is_a_field_error_not_a_crash():
    assert ("birth_year", "in_future") in patient(birth_year=10000)


@pytest.mark.req("URS-PRT-001")
def test_adult_edge_and_year_only_messages():
    # Exactly 18 on the day of consent is adult.
    assert patient(birth_year=2007, birth_date=date(2007, 3, 1)) == set()
    messages = {v.message for v in rules.patient_violations(**{
        **dict(today=TODAY, birth_year=2007, birth_date=None, consent_date=date(2025, 3, 1),
               enrolment_date=date(2025, 3, 10), symptom_onset_date=date(2024, 12, 1),
               active_myopathy=True, ctd_associated=False, status="on_study", previous_status=None,
               withdrawal_date=None, withdrawal_reason="")})}
    assert any("enter the full date of birth" in m for m in messages)


@pytest.mark.req("URS-PRT-001")
def test_recent_onset_edge():
    # 36.0 months is still recent; one more week is not.
    assert ("symptom_onset_date", "not_recent") not in patient(symptom_onset_date=date(2022, 3, 10))
    assert ("symptom_onset_date", "not_recent") in patient(symptom_onset_date=date(2022, 3, 1))


@pytest.mark.parametrize(
    "old, new, allowed",
    [
        ("screening", "screening", True), ("screening", "on_study", True),
        ("screening", "withdrawn", True), ("screening", "completed", False),
        ("on_study", "completed", True), ("on_study", "withdrawn", True),
        ("on_study", "screening", False), ("completed", "on_study", False),
        ("completed", "withdrawn", False), ("withdrawn", "on_study", False),
    ],
)
@pytest.mark.req("URS-OPS-004")
def test_status_transitions(old, new, allowed):
    assert rules.status_change_allowed(old, new) is allowed


# --- Diagnosis rules ---------------------------------------------------------

def diagnosis(**overrides):
    values = dict(
        today=TODAY, kind="DM", certainty=Certainty.DEFINITE, rash=True, biopsy_performed=False,
        biopsy_myositis=False, biopsy_findings=[], diagnosis_date=date(2025, 2, 1),
        symptom_onset_date=date(2024, 12, 1),
    )
    values.update(overrides)
    return {(v.field, v.code) for v in rules.diagnosis_violations(**values)}


def test_valid_diagnosis():
    assert diagnosis() == set()
    assert diagnosis(kind="PM", rash=False, certainty=Certainty.POSSIBLE) == set()


@pytest.mark.parametrize(
    "overrides, expected",
    [
        ({"rash": False, "certainty": Certainty.NOT_MET}, ("kind", "dm_requires_rash")),
        ({"kind": "PM", "rash": True}, ("kind", "pm_with_rash")),
        ({"kind": "PM", "rash": False, "certainty": Certainty.NOT_MET}, ("kind", "criteria_not_met")),
        ({"certainty": Certainty.NOT_MET}, ("kind", "criteria_not_met")),
        ({"biopsy_myositis": True}, ("bp_biopsy", "no_biopsy")),
        ({"biopsy_findings": ["biopsy_rimmed_vacuoles"]}, ("biopsy_rimmed_vacuoles", "no_biopsy")),
        ({"diagnosis_date": date(2026, 6, 16)}, ("diagnosis_date", "in_future")),
        ({"diagnosis_date": date(2024, 11, 30)}, ("diagnosis_date", "before_onset")),
    ],
)
def test_diagnosis_violation(overrides, expected):
    assert expected in diagnosis(**overrides)


def test_biopsy_findings_allowed_with_biopsy():
    assert diagnosis(biopsy_performed=True, biopsy_myositis=True,
                     biopsy_findings=["biopsy_rimmed_vacuoles"]) == set()
