"""Response rules, TIS and IMACS, without a database."""

from decimal import Decimal as D

import pytest

from reporting import rules


@pytest.mark.parametrize("baseline, last, responder", [
    (1000, 499, True), (1000, 500, False), (1000, 1200, False), (None, 100, False), (0, 0, False)])
@pytest.mark.req("URS-PRT-016")
def test_ck_response_is_a_fall_of_more_than_half(baseline, last, responder):
    assert rules.ck_responder(baseline, last) is responder


@pytest.mark.parametrize("baseline, last, improved", [
    (50, 60, True), (50, 59, False), (60, 72, True), (None, 60, False), (0, 10, False)])
@pytest.mark.req("URS-PRT-016")
def test_mmt_improvement_is_20_percent(baseline, last, improved):
    assert rules.mmt_improved(baseline, last) is improved


def test_most_abnormal_enzyme():
    baseline = {"ck": (D(2000), D(200)), "ldh": (D(500), D(250)), "alt": (None, D(40))}
    assert rules.most_abnormal_enzyme(baseline) == "ck"
    assert rules.most_abnormal_enzyme({"ldh": (D(1000), D(250)), "ck": (D(600), D(200))}) == "ldh"
    assert rules.most_abnormal_enzyme({}) is None


@pytest.mark.parametrize("key, improvement, points", [
    ("physician_global", D(-10), D(0)), ("physician_global", D(5), D(0)), ("physician_global", D("5.1"), D("7.5")),
    ("physician_global", D(15), D("7.5")), ("physician_global", D(25), D(15)), ("physician_global", D(40), D("17.5")),
    ("physician_global", D("40.1"), D(20)),
    ("patient_global", D(30), D("7.5")), ("haq", D(20), D("7.5")), ("haq", D(30), D("7.5")),
    ("enzyme", D(50), D("7.5")), ("extramuscular", D(20), D("12.5")),
    ("mmt", D(2), D(0)), ("mmt", D("2.1"), D(10)), ("mmt", D(10), D(10)), ("mmt", D(20), D(20)),
    ("mmt", D(30), D("27.5")), ("mmt", D("30.1"), D("32.5")),
])
@pytest.mark.req("URS-PRT-016")
def test_tis_points_table(key, improvement, points):
    assert rules.tis_points(key, improvement) == points


def core(**overrides):
    values = {"physician_global": D(6), "patient_global": D(6), "mmt": 50, "haq": D("1.5"),
              "extramuscular": D(3), "enzymes": {"ck": (D(3000), D(200)), "ldh": (D(400), D(250))}}
    values.update(overrides)
    return values


@pytest.mark.req("URS-PRT-016")
def test_total_improvement_score_and_imacs():
    last = core(physician_global=D(3), patient_global=D(4), mmt=66, haq=D("1.0"), extramuscular=D(1),
                enzymes={"ck": (D(300), D(200)), "ldh": (D(300), D(250))})
    changes = rules.core_set_changes(core(), last)
    # physician -50 % -> 20; patient 33 % -> 7.5; MMT +32 % -> 32.5; HAQ 33 % -> 7.5;
    # CK (most abnormal) 90 % -> 7.5; extramuscular 67 % -> 20
    tis = rules.total_improvement_score(changes)
    assert tis.score == D("95.0") and tis.level == "major"
    assert rules.imacs_improved(changes) is True


@pytest.mark.req("URS-PRT-016")
def test_not_computable_when_a_core_measure_is_missing():
    assert rules.core_set_changes(core(haq=None), core()) is None
    assert rules.total_improvement_score(None) is None
    assert rules.imacs_improved(None) is None


def test_imacs_fails_when_mmt_worsens():
    last = core(physician_global=D(1), patient_global=D(1), haq=D("0.5"), mmt=35,
                enzymes={"ck": (D(300), D(200)), "ldh": (D(300), D(250))})
    changes = rules.core_set_changes(core(), last)
    assert changes["mmt"] == D(-30)
    assert rules.imacs_improved(changes) is False


def test_zero_baseline():
    assert rules.improvement_percent(D(0), D(0), False) == 0
    assert rules.improvement_percent(D(0), D(1), False) == -100
