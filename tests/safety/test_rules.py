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


@pytest.mark.req("URS-PRT-010")
def test_report_due_24_hours_after_awareness():
    aware = datetime(2025, 4, 1, 9, 30, tzinfo=timezone.utc)
    assert rules.report_due_at(aware) == aware + timedelta(hours=24)


@pytest.mark.parametrize(
    "overrides, expected",
    [
        # A fatal outcome needs grade 5 and the death criterion (the grade 1, not serious, fatal).
        ({"outcome": "fatal"}, {("grade", "fatal_is_grade5"), ("serious_death", "fatal_is_death")}),
        ({"outcome": "fatal", "grade": 5}, {("serious_death", "grade5_is_death")}),
        ({"outcome": "fatal", "serious": True, "criteria": criteria(serious_death=True)},
         {("grade", "fatal_is_grade5")}),
        # Grade 5 needs the outcome fatal and the death criterion.
        ({"grade": 5}, {("serious_death", "grade5_is_death"), ("outcome", "grade5_is_fatal")}),
        # The death criterion needs grade 5 and the outcome fatal.
        ({"serious": True, "criteria": criteria(serious_death=True)},
         {("grade", "death_is_grade5"), ("outcome", "death_is_fatal")}),
        # Grade 4 is life-threatening by definition, and the reverse: life-threatening is grade 4 or 5.
        ({"grade": 4}, {("serious_life_threatening", "grade4_is_life_threatening")}),
        ({"grade": 3, "serious": True, "criteria": criteria(serious_life_threatening=True)},
         {("grade", "life_threatening_is_grade4")}),
    ],
)
@pytest.mark.req("URS-PRT-012")
def test_death_and_life_threat_are_consistent(overrides, expected):
    assert ae(**overrides) == expected


@pytest.mark.parametrize("grade, on", [
    (4, {"serious_life_threatening": True}),
    (5, {"serious_death": True, "serious_life_threatening": True}),
])
def test_consistent_severe_events(grade, on):
    outcome = "fatal" if grade == 5 else "recovering"
    assert ae(grade=grade, serious=True, criteria=criteria(**on), outcome=outcome, end_date=None) == set()


NOW = datetime(2026, 6, 15, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("aware_at, expected", [
    (datetime(2025, 4, 1, 8, 0, tzinfo=timezone.utc), set()),  # the day of onset
    (datetime(2025, 3, 31, 23, 0, tzinfo=timezone.utc), {("aware_at", "before_onset")}),
    (NOW + timedelta(minutes=1), {("aware_at", "in_future")}),
    (None, set()),  # not given: the service takes the entry
])
@pytest.mark.req("URS-CHK-003")
def test_awareness_not_before_onset_nor_in_the_future(aware_at, expected):
    found = rules.awareness_violations(aware_at=aware_at, aware_date=aware_at.date() if aware_at else None,
                                       onset_date=date(2025, 4, 1), now=NOW)
    assert {(v.field, v.code) for v in found} == expected


@pytest.mark.req("URS-PRT-010")
def test_sae_clock_runs_from_awareness():
    aware = datetime(2025, 4, 1, 9, 30, tzinfo=timezone.utc)
    on_time = rules.sae_facts(serious=True, aware_at=aware, sae_entered_at=aware + timedelta(hours=24))
    assert on_time == rules.SaeFacts(aware + timedelta(hours=24), False)
    # Entered four weeks after the site knew: late, whatever the entry's own clock says.
    late = rules.sae_facts(serious=True, aware_at=aware, sae_entered_at=aware + timedelta(weeks=4))
    assert late == rules.SaeFacts(aware + timedelta(hours=24), True)
    assert rules.sae_facts(serious=True, aware_at=aware, sae_entered_at=aware + timedelta(hours=24, seconds=1)).reported_late
    # Not serious: no clock.
    assert rules.sae_facts(serious=False, aware_at=aware, sae_entered_at=None) == rules.SaeFacts(None, False)


def test_one_choices_class_per_concept():
    from safety import models

    assert models.Outcome is rules.Outcome and models.ReviewKind is rules.ReviewKind
    assert models.Relatedness is rules.Relatedness and models.ActionTaken is rules.ActionTaken
    assert rules.FATAL == models.Outcome.FATAL
    labels = dict(rules.SERIOUSNESS_CRITERIA)
    assert {name: models.AdverseEvent._meta.get_field(name).verbose_name for name in labels} == labels


# --- review and follow-up ------------------------------------------------------

def review(**overrides):
    values = dict(kind=rules.MEDICAL_REVIEW, comment="Typical reaction.", reviewer_relatedness="probable",
                  reviewer_may_review=True)
    values.update(overrides)
    return {(v.field, v.code) for v in rules.review_violations(**values)}


def test_valid_reviews():
    assert review() == set()
    assert review(kind=rules.ACKNOWLEDGEMENT, comment="", reviewer_relatedness="") == set()


@pytest.mark.parametrize(
    "overrides, expected",
    [
        ({"comment": "  "}, ("comment", "comment_required")),
        ({"reviewer_relatedness": ""}, ("reviewer_relatedness", "relatedness_required")),
        ({"reviewer_may_review": False}, ("__all__", "not_a_reviewer")),
        ({"kind": rules.ACKNOWLEDGEMENT, "reviewer_may_review": False}, ("__all__", "not_a_reviewer")),
        ({"event_voided": True}, ("__all__", "event_voided")),
        ({"kind": rules.ACKNOWLEDGEMENT, "already_reviewed": True}, ("__all__", "already_reviewed")),
        ({"reviewed_at": datetime(2025, 4, 1, 9, 0, tzinfo=timezone.utc),
          "entered_at": datetime(2025, 4, 1, 10, 0, tzinfo=timezone.utc)}, ("__all__", "before_entry")),
    ],
)
def test_review_violation(overrides, expected):
    assert expected in review(**overrides)


def test_a_second_medical_review_is_allowed():
    assert review(already_reviewed=True) == set()


def follow_up(**overrides):
    values = dict(today=TODAY, follow_up_date=date(2025, 4, 10), outcome="recovering", end_date=None,
                  onset_date=date(2025, 4, 1), event_outcome="not_recovered")
    values.update(overrides)
    return {(v.field, v.code) for v in rules.follow_up_violations(**values)}


def test_valid_follow_ups():
    assert follow_up() == set()
    assert follow_up(outcome="recovered", end_date=date(2025, 4, 8)) == set()
    assert follow_up(outcome="sequelae", end_date=date(2025, 4, 10)) == set()  # ended on the day
    assert follow_up(outcome="fatal", end_date=date(2025, 4, 9), event_is_death=True) == set()
    assert follow_up(follow_up_date=date(2025, 4, 1)) == set()  # on the onset day
    assert follow_up(event_outcome="recovered", is_new=False) == set()  # the closing follow-up itself


@pytest.mark.parametrize(
    "overrides, expected",
    [
        ({"event_outcome": "recovered"}, ("__all__", "event_resolved")),
        ({"event_outcome": "sequelae"}, ("__all__", "event_resolved")),
        ({"event_outcome": "fatal"}, ("__all__", "event_resolved")),
        ({"event_voided": True}, ("__all__", "event_voided")),
        ({"follow_up_date": date(2025, 3, 31)}, ("follow_up_date", "before_onset")),
        ({"follow_up_date": date(2026, 6, 16)}, ("follow_up_date", "in_future")),
        ({"outcome": "recovered"}, ("end_date", "end_date_required")),
        ({"end_date": date(2025, 4, 8)}, ("end_date", "end_date_while_ongoing")),
        ({"outcome": "unknown", "end_date": date(2025, 4, 8)}, ("end_date", "end_date_while_ongoing")),
        ({"outcome": "recovered", "end_date": date(2025, 3, 30)}, ("end_date", "end_before_onset")),
        ({"outcome": "recovered", "end_date": date(2025, 4, 11)}, ("end_date", "end_after_follow_up")),
        ({"outcome": "fatal", "end_date": date(2025, 4, 9)}, ("outcome", "fatal_needs_death")),
    ],
)
def test_follow_up_violation(overrides, expected):
    assert expected in follow_up(**overrides)


@pytest.mark.parametrize("outcome, resolved", [("recovered", True), ("sequelae", True), ("fatal", True),
                                               ("recovering", False), ("not_recovered", False),
                                               ("unknown", False)])
def test_resolving_outcomes(outcome, resolved):
    assert rules.is_resolved(outcome) is resolved


ENTERED = datetime(2025, 4, 1, 9, 30, tzinfo=timezone.utc)
DUE = rules.report_due_at(ENTERED)


@pytest.mark.req("URS-PRT-011")
def test_review_clock_before_and_after_the_deadline():
    clock = rules.review_clock(due_at=DUE, now=ENTERED + timedelta(hours=20, minutes=15))
    assert (clock.due_at, clock.overdue, clock.late, clock.label) == (
        ENTERED + timedelta(hours=24), False, False, "3h 45m left")
    clock = rules.review_clock(due_at=DUE, now=ENTERED + timedelta(hours=51, minutes=5))
    assert (clock.overdue, clock.label) == (True, "overdue by 27h 05m")


def test_review_clock_stops_at_the_medical_review():
    late_now = ENTERED + timedelta(days=10)
    on_time = rules.review_clock(due_at=DUE, now=late_now, reviewed_at=ENTERED + timedelta(hours=2))
    assert (on_time.overdue, on_time.late, on_time.label) == (False, False, "22h 00m left")
    late = rules.review_clock(due_at=DUE, now=late_now, reviewed_at=ENTERED + timedelta(hours=30))
    assert (late.overdue, late.late) == (False, True)
