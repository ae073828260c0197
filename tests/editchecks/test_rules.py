"""Each edit check's condition, a pure function of ``editchecks/rules.py`` (no database)."""

from datetime import date
from decimal import Decimal

import pytest

from editchecks import rules

D = Decimal
ON = date(2025, 4, 14)


@pytest.mark.req("URS-CHK-005")
def test_ck_above_ten_times_the_upper_limit_with_no_ae_in_the_window():
    assert rules.ck_above_limit_without_ae(ck=D("2100"), uln=D("200"), assessment_date=ON, ae_onsets=[])
    assert not rules.ck_above_limit_without_ae(ck=D("2000"), uln=D("200"), assessment_date=ON, ae_onsets=[])  # 10 x
    # An AE within 14 days on either side explains it; one 15 days away does not.
    assert not rules.ck_above_limit_without_ae(ck=D("5000"), uln=D("200"), assessment_date=ON,
                                               ae_onsets=[date(2025, 3, 31)])
    assert not rules.ck_above_limit_without_ae(ck=D("5000"), uln=D("200"), assessment_date=ON,
                                               ae_onsets=[date(2025, 4, 28)])
    assert rules.ck_above_limit_without_ae(ck=D("5000"), uln=D("200"), assessment_date=ON,
                                           ae_onsets=[date(2025, 3, 30), date(2025, 4, 29)])
    # At baseline (before any IVIG) a very high CK is the disease, not an event.
    assert not rules.ck_above_limit_without_ae(ck=D("5000"), uln=D("200"), assessment_date=ON, ae_onsets=[],
                                               baseline=True)
    # Without a value or an upper limit there is nothing to judge.
    assert not rules.ck_above_limit_without_ae(ck=None, uln=D("200"), assessment_date=ON, ae_onsets=[])
    assert not rules.ck_above_limit_without_ae(ck=D("5000"), uln=None, assessment_date=ON, ae_onsets=[])


def test_the_upper_limit_ratio_is_the_visits_rule():
    from visits.rules import times_upper_limit

    assert times_upper_limit(D("2100"), D("200")) == D("10.5")
    assert times_upper_limit(D("2100"), D("0")) is None


def test_assessment_after_the_cycles_first_infusion():
    assert rules.assessment_after_first_infusion(assessment_date=date(2025, 4, 15), first_infusion_date=ON)
    assert not rules.assessment_after_first_infusion(assessment_date=ON, first_infusion_date=ON)
    assert not rules.assessment_after_first_infusion(assessment_date=date(2025, 4, 15), first_infusion_date=None)


def test_ae_onset_before_consent():
    assert rules.onset_before_consent(onset_date=date(2025, 2, 28), consent_date=date(2025, 3, 1))
    assert not rules.onset_before_consent(onset_date=date(2025, 3, 1), consent_date=date(2025, 3, 1))


def test_mmt_fall_of_20_percent_or_more_from_the_previous_assessment_with_no_ae():
    before = date(2025, 3, 17)
    assert rules.mmt_fall_without_ae(previous_total=60, previous_date=before, total=48, assessment_date=ON,
                                     ae_onsets=[])  # exactly 20 %
    assert not rules.mmt_fall_without_ae(previous_total=60, previous_date=before, total=49, assessment_date=ON,
                                         ae_onsets=[])  # 18.3 %
    assert not rules.mmt_fall_without_ae(previous_total=60, previous_date=before, total=70, assessment_date=ON,
                                         ae_onsets=[])  # a rise
    # An AE from the previous assessment to 14 days after this one explains it.
    assert not rules.mmt_fall_without_ae(previous_total=60, previous_date=before, total=40, assessment_date=ON,
                                         ae_onsets=[before])
    assert not rules.mmt_fall_without_ae(previous_total=60, previous_date=before, total=40, assessment_date=ON,
                                         ae_onsets=[date(2025, 4, 28)])
    assert rules.mmt_fall_without_ae(previous_total=60, previous_date=before, total=40, assessment_date=ON,
                                     ae_onsets=[date(2025, 3, 16), date(2025, 4, 29)])


def test_end_of_treatment_missing_8_weeks_after_the_last_infusion_of_a_patient_no_longer_treated():
    last = date(2025, 6, 10)
    due = rules.end_of_treatment_due(last)
    assert due == date(2025, 8, 5)
    kwargs = {"last_infusion_date": last, "has_end_of_treatment": False}
    assert rules.end_of_treatment_missing(status="completed", today=date(2025, 8, 6), **kwargs)
    assert rules.end_of_treatment_missing(status="withdrawn", today=date(2025, 8, 6), **kwargs)
    assert not rules.end_of_treatment_missing(status="completed", today=due, **kwargs)
    assert not rules.end_of_treatment_missing(status="on_study", today=date(2026, 1, 1), **kwargs)
    assert not rules.end_of_treatment_missing(status="completed", today=date(2026, 1, 1), last_infusion_date=last,
                                              has_end_of_treatment=True)
    assert not rules.end_of_treatment_missing(status="withdrawn", today=date(2026, 1, 1), last_infusion_date=None,
                                              has_end_of_treatment=False)


@pytest.mark.req("URS-CHK-005")
def test_weight_more_than_10_percent_from_the_previous_cycle():
    assert rules.weight_change_implausible(previous_weight=D("70"), weight=D("77.1"))
    assert rules.weight_change_implausible(previous_weight=D("70"), weight=D("62.9"))
    assert not rules.weight_change_implausible(previous_weight=D("70"), weight=D("77"))
    assert not rules.weight_change_implausible(previous_weight=None, weight=D("77"))
