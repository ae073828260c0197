from datetime import date, datetime, timedelta, timezone

import pytest

from safety import rules

TODAY = date(2026, 6, 15)
NO_CRITERIA = {name: False for name, _ in rules.SERIOUSNESS_CRITERIA}


def ae(**overrides):
    values = dict(today=TODAY, grade=1, serious=False, criteria=dict(NO_CRITERIA), outcome="recovered",
                  onset_date=date(2025, 4, 1), end_date=date(2025, 4, 2), enrolment_date=date(2025, 3, 1))
    values.update(overrides)
    return {(v.field, v.code) for v in rules.ae_violations(**values)}


def criteria(**on):
    return {**NO_CRITERIA, **on}


def test_valid_events():
    assert ae() == set()
    assert ae(grade=3) == set()  # severe is not serious
    assert ae(grade=3, serious=True, criteria=criteria(serious_hospitalisation=True)) == set()
    assert ae(grade=5, serious=True, criteria=criteria(serious_death=True), outcome="fatal") == set()
    assert ae(end_date=None) == set()  # ongoing


@pytest.mark.parametrize(
    "overrides, expected",
    [
        ({"grade": 5}, ("serious_death", "grade5_is_death")),
        ({"grade": 5, "serious": True, "criteria": criteria(serious_hospitalisation=True)},
         ("serious_death", "grade5_is_death")),
        ({"grade": 5, "serious": True, "criteria": criteria(serious_death=True)}, ("outcome", "grade5_is_fatal")),
        ({"serious": True}, ("serious", "criterion_required")),
        ({"criteria": criteria(serious_life_threatening=True)}, ("serious", "criteria_without_serious")),
        ({"serious": True, "criteria": criteria(serious_death=True), "grade": 4}, ("outcome", "death_is_fatal")),
        ({"end_date": date(2025, 3, 31)}, ("end_date", "end_before_onset")),
        ({"onset_date": date(2025, 2, 28), "end_date": None}, ("onset_date", "before_enrolment")),
        ({"onset_date": date(2026, 6, 16), "end_date": None}, ("onset_date", "in_future")),
        ({"end_date": date(2026, 6, 16)}, ("end_date", "in_future")),
        ({"infusion_patient_ok": False}, ("infusion", "other_patient")),
        ({"infusion_date": date(2025, 4, 2), "end_date": None}, ("onset_date", "before_infusion")),
    ],
)
def test_ae_violation(overrides, expected):
    assert expected in ae(**overrides)


def test_onset_on_the_infusion_day_is_fine():
    assert ae(infusion_date=date(2025, 4, 1)) == set()


def test_review_due_24_hours_after_entry():
    entered = datetime(2025, 4, 1, 9, 30, tzinfo=timezone.utc)
    assert rules.review_due_at(entered) == entered + timedelta(hours=24)
