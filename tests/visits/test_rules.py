"""Every edge of the visits rules, without a database."""

from datetime import date, time
from decimal import Decimal as D

import pytest

from visits import rules
from visits.rules import DeviationKind, InfusionFacts

TODAY = date(2026, 6, 15)


# --- Dosing ------------------------------------------------------------------

@pytest.mark.parametrize("weight, expected", [("70", "70.0"), ("70.04", "70.0"), ("70.05", "70.1"),
                                              ("45.5", "45.5")])
@pytest.mark.req("URS-PRT-004")
def test_prescribed_daily_dose_is_1_g_per_kg(weight, expected):
    assert rules.prescribed_daily_dose_g(D(weight)) == D(expected)
    assert rules.prescribed_cycle_dose_g(D(weight)) == D(expected) * 2


@pytest.mark.parametrize(
    "sex, height_cm, expected",
    [("M", "152.4", "50.0"), ("F", "152.4", "45.5"),  # 60 inches: the base weight
     ("M", "177.8", "73.0"), ("F", "165.1", "57.0")],  # 70 in: 50 + 23; 65 in: 45.5 + 11.5
)
@pytest.mark.req("URS-PRT-005")
def test_devine_ibw(sex, height_cm, expected):
    assert rules.q1(rules.devine_ibw_kg(sex, D(height_cm))) == D(expected)


@pytest.mark.parametrize(
    "basis, weight, height, sex, expected",
    [
        ("actual", "100", None, "M", "100.0"),
        ("adjusted", "100", "177.8", "M", "83.8"),  # 73 + 0.4 x 27 = 83.8
        ("adjusted", "60", "177.8", "M", "60.0"),  # below IBW: actual weight
        ("adjusted", "90", "165.1", "F", "70.2"),  # 57 + 0.4 x 33 = 70.2
    ],
)
@pytest.mark.req("URS-PRT-005")
def test_dosing_weight(basis, weight, height, sex, expected):
    assert rules.dosing_weight_kg(basis, weight_kg=D(weight), height_cm=height and D(height),
                                  sex=sex) == D(expected)


@pytest.mark.parametrize(
    "given, prescribed, expected",
    [
        ("70", "70", None),
        ("66.5", "70", None),  # exactly -5 %: within tolerance
        ("73.5", "70", None),  # exactly +5 %
        ("66.4", "70", DeviationKind.UNDERDOSE),
        ("73.6", "70", DeviationKind.OVERDOSE),
        ("60", "70", DeviationKind.UNDERDOSE),
        (None, "70", None),
    ],
)
@pytest.mark.req("URS-PRT-004")
def test_dose_deviation_edges(given, prescribed, expected):
    deviation = rules.dose_deviation(day=2, given_g=given and D(given), prescribed_g=D(prescribed))
    assert (deviation.kind if deviation else None) == expected


def test_dose_deviation_description():
    deviation = rules.dose_deviation(day=2, given_g=D("60"), prescribed_g=D("70.0"))
    assert deviation.description == ("Day 2: 60 g given, 70.0 g prescribed (-14.3 %; tolerance 5.0 %).")


def test_dose_tolerance_is_a_parameter():
    assert rules.dose_deviation(day=1, given_g=D("63"), prescribed_g=D("70"), tolerance=D("0.10")) is None


@pytest.mark.parametrize(
    "rate_ml_h, weight, at_risk, deviates",
    [
        ("168", "70", False, False),  # exactly 0.04 mL/kg/min
        ("169", "70", False, True),
        ("126", "70", True, False),  # exactly 0.03
        ("127", "70", True, True),
        ("150", "70", False, False),
        ("150", "70", True, True),
    ],
)
@pytest.mark.req("URS-PRT-008")
def test_rate_deviation_edges(rate_ml_h, weight, at_risk, deviates):
    deviation = rules.rate_deviation(day=1, rate_ml_per_h=D(rate_ml_h), weight_kg=D(weight), at_risk=at_risk)
    assert (deviation is not None) is deviates


@pytest.mark.req("URS-PRT-008")
def test_rate_conversion():
    # mL/h = kg x mL/kg/min x 60
    assert rules.rate_ml_per_kg_min(D("168"), D("70")) == D("0.040")
    assert rules.max_rate_ml_per_h(D("70"), False) == D("168.0")
    assert rules.max_rate_ml_per_h(D("70"), True) == D("126.0")


# --- Schedule ----------------------------------------------------------------

@pytest.mark.parametrize(
    "days_after_previous, deviates",
    [(28, False), (21, False), (35, False), (20, True), (36, True), (63, True)],
)
@pytest.mark.req("URS-PRT-007")
def test_window_edges(days_after_previous, deviates):
    previous = date(2025, 1, 1)
    from datetime import timedelta
    deviation = rules.window_deviation(start=previous + timedelta(days=days_after_previous),
                                       previous_start=previous)
    assert (deviation is not None) is deviates


@pytest.mark.req("URS-PRT-007")
def test_first_cycle_has_no_window():
    assert rules.window_deviation(start=date(2025, 1, 1), previous_start=None) is None
    assert rules.planned_start(None) is None
    assert rules.planned_start(date(2025, 1, 1)) == date(2025, 1, 29)


@pytest.mark.parametrize(
    "day1, day2, kinds",
    [
        (date(2025, 1, 1), date(2025, 1, 2), []),
        (date(2025, 1, 1), None, [(DeviationKind.MISSING_DAY, 2)]),
        (None, date(2025, 1, 2), [(DeviationKind.MISSING_DAY, 1)]),
        (date(2025, 1, 1), date(2025, 1, 3), [(DeviationKind.NON_CONSECUTIVE, 2)]),
        (None, None, []),
    ],
)
@pytest.mark.req("URS-PRT-006")
def test_day_deviations(day1, day2, kinds):
    assert [(d.kind, d.day) for d in rules.day_deviations(day1=day1, day2=day2)] == kinds


def test_cycle_deviations_collects_every_cause():
    found = rules.cycle_deviations(
        start=date(2025, 3, 20), previous_start=date(2025, 1, 1), weight_kg=D("70"),
        dosing_weight=D("70"), at_risk=True,
        infusions=[InfusionFacts(1, date(2025, 3, 20), D("70"), D("150")),
                   InfusionFacts(2, date(2025, 3, 22), D("60"), D("100"))])
    assert sorted((d.kind.value, d.day) for d in found) == [
        ("non_consecutive", 2), ("rate", 1), ("underdose", 2), ("window", 0)]


def test_cycle_without_deviation():
    assert rules.cycle_deviations(
        start=date(2025, 1, 29), previous_start=date(2025, 1, 1), weight_kg=D("70"),
        dosing_weight=D("70"), at_risk=False,
        infusions=[InfusionFacts(1, date(2025, 1, 29), D("70"), D("150")),
                   InfusionFacts(2, date(2025, 1, 30), D("70"), D("150"))]) == []


# --- Hard rules --------------------------------------------------------------

def cycle(**overrides):
    values = dict(today=TODAY, start_date=date(2025, 2, 1), weight_kg=D("70"), height_cm=None,
                  dosing_basis="actual", enrolment_date=date(2025, 1, 1), withdrawal_date=None,
                  previous_start=None, next_start=None)
    values.update(overrides)
    return {(v.field, v.code) for v in rules.cycle_violations(**values)}


def test_valid_cycle():
    assert cycle() == set()
    assert cycle(weight_kg=D("350"), height_cm=D("100")) == set()
    assert cycle(height_cm=D("250"), dosing_basis="adjusted") == set()


@pytest.mark.parametrize(
    "overrides, expected",
    [
        ({"weight_kg": D("0")}, ("weight_kg", "implausible_weight")),
        ({"weight_kg": D("-1")}, ("weight_kg", "implausible_weight")),
        ({"weight_kg": D("350.1")}, ("weight_kg", "implausible_weight")),
        ({"height_cm": D("99.9")}, ("height_cm", "implausible_height")),
        ({"height_cm": D("250.1")}, ("height_cm", "implausible_height")),
        ({"dosing_basis": "adjusted"}, ("height_cm", "height_required")),
        ({"start_date": date(2026, 6, 16)}, ("start_date", "in_future")),
        ({"start_date": date(2024, 12, 31)}, ("start_date", "before_enrolment")),
        ({"withdrawal_date": date(2025, 1, 31)}, ("start_date", "after_withdrawal")),
        ({"previous_start": date(2025, 2, 1)}, ("start_date", "before_previous_cycle")),
        ({"next_start": date(2025, 2, 1)}, ("start_date", "after_next_cycle")),
    ],
)
@pytest.mark.req("URS-CHK-002", "URS-CHK-003")
def test_cycle_violation(overrides, expected):
    assert expected in cycle(**overrides)


def infusion(**overrides):
    values = dict(today=TODAY, day=1, infusion_date=date(2025, 2, 1), cycle_start=date(2025, 2, 1),
                  enrolment_date=date(2025, 1, 1), withdrawal_date=None, start_time=time(9, 0),
                  end_time=time(13, 0), dose_g=D("70"), volume_ml=D("700"), concentration_pct=D("10"),
                  max_rate_ml_per_h=D("150"))
    values.update(overrides)
    return {(v.field, v.code) for v in rules.infusion_violations(**values)}


def test_valid_infusion():
    assert infusion() == set()
    assert infusion(day=2, infusion_date=date(2025, 2, 2)) == set()
    assert infusion(day=2, infusion_date=date(2025, 2, 5)) == set()  # a deviation, not an error


@pytest.mark.parametrize(
    "overrides, expected",
    [
        ({"infusion_date": date(2026, 6, 16), "cycle_start": date(2026, 6, 16)}, ("infusion_date", "in_future")),
        ({"infusion_date": date(2024, 12, 31), "cycle_start": date(2024, 12, 31)}, ("infusion_date", "before_enrolment")),
        ({"withdrawal_date": date(2025, 1, 31)}, ("infusion_date", "after_withdrawal")),
        ({"infusion_date": date(2025, 2, 2)}, ("infusion_date", "day1_not_cycle_start")),
        ({"day": 2}, ("infusion_date", "day2_not_after_day1")),
        ({"end_time": time(9, 0)}, ("end_time", "end_before_start")),
        ({"dose_g": D("0")}, ("dose_g", "not_positive")),
        ({"volume_ml": D("-1")}, ("volume_ml", "not_positive")),
        ({"max_rate_ml_per_h": D("0")}, ("max_rate_ml_per_h", "not_positive")),
        ({"concentration_pct": D("25")}, ("concentration_pct", "implausible_concentration")),
        ({"volume_ml": D("500")}, ("volume_ml", "volume_dose_mismatch")),
    ],
)
@pytest.mark.req("URS-CHK-002", "URS-PRT-006")
def test_infusion_violation(overrides, expected):
    assert expected in infusion(**overrides)


@pytest.mark.req("URS-CHK-002")
def test_volume_matches_dose_within_ten_percent():
    assert ("volume_ml", "volume_dose_mismatch") not in infusion(volume_ml=D("770"))
    assert ("volume_ml", "volume_dose_mismatch") in infusion(volume_ml=D("780"))


# --- Assessments -------------------------------------------------------------

@pytest.mark.req("URS-PRT-015")
def test_mmt_total():
    assert rules.mmt_total([10] * 8) == 80
    assert rules.mmt_total([5, 6, 7, 8, 9, 10, 0, 1]) == 46
    assert rules.mmt_total([10] * 7 + [None]) is None
    assert rules.mmt_total([10] * 7) is None
    assert rules.mmt_max_total("kendall") == 80
    assert rules.mmt_max_total("mrc") == 40


@pytest.mark.req("URS-PRT-015")
def test_kendall_to_mrc_table():
    assert rules.KENDALL_TO_MRC[0] == "0" and rules.KENDALL_TO_MRC[10] == "5"
    assert rules.KENDALL_TO_MRC[5] == "3" and rules.KENDALL_TO_MRC[8] == "4"


@pytest.mark.parametrize("baseline, value, expected",
                         [(1000, 400, D("-60.0")), (1000, 1000, D("0.0")), (50, 60, D("20.0")),
                          (None, 10, None), (0, 10, None), (10, None, None)])
def test_percent_change(baseline, value, expected):
    assert rules.percent_change(baseline, value) == expected


def lab(value=None, uln=None, lln=None):
    return rules.Lab("CK", "ck_u_per_l", value, "ck_uln_u_per_l", uln, "ck_lln_u_per_l", lln)


def assessment(**overrides):
    values = dict(today=TODAY, assessment_date=date(2025, 2, 1), cycle_start=date(2025, 2, 1),
                  is_end_of_treatment=False, last_cycle_start=None, enrolment_date=date(2025, 1, 1),
                  scale="kendall", grades={"mmt_biceps": 10}, labs=[lab(D("500"), D("200"), D("30"))],
                  globals_={"physician_global": D("5")}, haq=D("1.5"))
    values.update(overrides)
    return {(v.field, v.code) for v in rules.assessment_violations(**values)}


@pytest.mark.req("URS-CHK-001")
def test_valid_assessment():
    assert assessment() == set()
    assert assessment(labs=[lab()]) == set()  # nothing measured, nothing required
    assert assessment(scale="mrc", grades={"mmt_biceps": 5}) == set()


@pytest.mark.parametrize(
    "overrides, expected",
    [
        ({"assessment_date": date(2025, 2, 2)}, ("assessment_date", "after_day1")),
        ({"assessment_date": date(2026, 6, 16)}, ("assessment_date", "in_future")),
        ({"grades": {"mmt_biceps": 11}}, ("mmt_biceps", "grade_out_of_scale")),
        ({"grades": {"mmt_biceps": -1}}, ("mmt_biceps", "grade_out_of_scale")),
        ({"scale": "mrc", "grades": {"mmt_biceps": 6}}, ("mmt_biceps", "grade_out_of_scale")),
        ({"labs": [lab(D("-5"), D("200"))]}, ("ck_u_per_l", "negative")),
        ({"labs": [lab(D("500"), D("0"))]}, ("ck_uln_u_per_l", "not_positive")),
        ({"labs": [lab(D("500"), D("200"), D("300"))]}, ("ck_lln_u_per_l", "range_inverted")),
        ({"labs": [lab(D("500"))]}, ("ck_uln_u_per_l", "range_required")),
        ({"globals_": {"physician_global": D("10.5")}}, ("physician_global", "out_of_range")),
        ({"haq": D("3.1")}, ("haq", "out_of_range")),
        ({"cycle_start": None, "is_end_of_treatment": True, "last_cycle_start": date(2025, 2, 1)},
         ("assessment_date", "eot_before_last_cycle")),
    ],
)
@pytest.mark.req("URS-CHK-001")
def test_assessment_violation(overrides, expected):
    assert expected in assessment(**overrides)
