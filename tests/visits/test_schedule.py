"""The next cycle's schedule: the rule (visits.rules.next_cycle / schedule_state), the
facts stored on the patient by the services and the data migration, the SQL filter
that reads them (PatientQuerySet.next_cycle) held against the rule, and the pages."""

import importlib
from datetime import date, timedelta

import pytest
from django.urls import reverse

from patients.filters import NEXT_CYCLE_CHOICES
from patients.models import SCHEDULE_FACTS, Patient
from patients.services import patient_save, patient_withdraw
from tests.patients.factories import PatientFactory
from tests.visits.factories import CycleFactory, InfusionFactory
from visits import rules
from visits.rules import ScheduleStatus, next_cycle, schedule_state
from visits.services import CycleParts, cycle_save, derived_recompute

START = date(2025, 3, 17)
PLANNED = START + timedelta(days=28)  # 2025-04-14


# --- the rule, without a database ------------------------------------------------------

@pytest.mark.req("URS-PRT-013")
def test_next_cycle_is_28_days_after_the_last_start_with_a_7_day_window():
    schedule = next_cycle(on_study=True, last_start=START, enrolment_date=date(2025, 3, 10))
    assert (schedule.next_cycle_planned_date, schedule.next_cycle_window_start_date,
            schedule.next_cycle_window_end_date) == (PLANNED, date(2025, 4, 7), date(2025, 4, 21))
    assert schedule.schedule_rules_version == rules.RULES_VERSION


@pytest.mark.req("URS-PRT-013")
def test_the_first_cycle_is_planned_on_the_enrolment_date():
    schedule = next_cycle(on_study=True, last_start=None, enrolment_date=date(2025, 3, 10))
    assert (schedule.next_cycle_planned_date, schedule.next_cycle_window_start_date,
            schedule.next_cycle_window_end_date) == (date(2025, 3, 10), date(2025, 3, 10), date(2025, 3, 17))


def test_a_patient_not_on_study_has_no_next_cycle():
    assert next_cycle(on_study=False, last_start=START, enrolment_date=date(2025, 3, 10)) == rules.NO_NEXT_CYCLE


@pytest.mark.parametrize("today, status, days", [
    (date(2025, 4, 6), ScheduleStatus.NOT_YET, 1),      # the day before the window opens
    (date(2025, 4, 7), ScheduleStatus.IN_WINDOW, 14),   # its first day
    (date(2025, 4, 21), ScheduleStatus.IN_WINDOW, 0),   # its last day: still in time
    (date(2025, 4, 22), ScheduleStatus.OVERDUE, 1),     # the day after: 1 day late
    (date(2026, 4, 22), ScheduleStatus.OVERDUE, 366),   # a year late looks overdue
])
@pytest.mark.req("URS-PRT-013")
def test_schedule_state_at_the_window_edges(today, status, days):
    state = schedule_state(window_start=date(2025, 4, 7), window_end=date(2025, 4, 21), today=today)
    assert state.status == status
    assert {ScheduleStatus.NOT_YET: state.days_until_window, ScheduleStatus.IN_WINDOW: state.days_left,
            ScheduleStatus.OVERDUE: state.days_late}[status] == days


def test_no_window_no_state():
    assert schedule_state(window_start=None, window_end=None, today=date(2025, 4, 1)) is None


@pytest.mark.req("URS-PRT-007")
def test_the_window_agrees_with_the_window_deviation():
    """The schedule's window is the one the deviation rule judges: its ends are in, one day out is not."""
    schedule = next_cycle(on_study=True, last_start=START, enrolment_date=None)
    for day, deviates in ((schedule.next_cycle_window_start_date, False), (schedule.next_cycle_window_end_date, False),
                          (schedule.next_cycle_window_start_date - timedelta(days=1), True),
                          (schedule.next_cycle_window_end_date + timedelta(days=1), True)):
        assert (rules.window_deviation(start=day, previous_start=START) is not None) is deviates


def test_the_patient_filter_offers_the_rules_statuses():
    assert {value for value, _ in NEXT_CYCLE_CHOICES} == set(ScheduleStatus.values)


# --- stored on the patient -----------------------------------------------------------------

pytestmark_db = pytest.mark.django_db


def entered_cycle(patient, number=1, start=START):
    cycle = CycleFactory.build(patient=patient, number=number, start_date=start)
    infusions = {day: InfusionFactory.build(cycle=cycle, day=day) for day in (1, 2)}
    cycle_save(parts=CycleParts(cycle=cycle, infusions=infusions), reason="")
    return cycle


def schedule_of(patient):
    return tuple(Patient.objects.filter(pk=patient.pk).values_list(*SCHEDULE_FACTS, "schedule_rules_version").get())


@pytestmark_db
def test_a_patient_saved_on_study_gets_its_first_cycle_window(site_a):
    patient = Patient(**{f: getattr(PatientFactory.build(site=site_a), f) for f in (
        "site", "subject_id", "sex", "birth_year", "race", "consent_date", "enrolment_date", "symptom_onset_date",
        "active_myopathy", "ctd_associated", "status")})
    patient_save(patient=patient)
    assert schedule_of(patient) == (date(2025, 3, 10), date(2025, 3, 10), date(2025, 3, 17), rules.RULES_VERSION)
    assert patient.history.count() == 1  # on the patient's own history row


@pytestmark_db
def test_saving_a_cycle_stores_the_next_one_and_withdrawal_clears_it(site_a):
    patient = PatientFactory(site=site_a)
    entered_cycle(patient)
    assert schedule_of(patient) == (PLANNED, date(2025, 4, 7), date(2025, 4, 21), rules.RULES_VERSION)
    entered_cycle(patient, number=2, start=PLANNED + timedelta(days=2))
    assert schedule_of(patient)[0] == PLANNED + timedelta(days=30)
    stored = Patient.objects.get(pk=patient.pk)
    assert stored.history.first().history_change_reason == "Cycle entered"
    patient_withdraw(patient=stored, on=date(2025, 6, 1), reason="Moved away", expected_version=stored.version)
    assert schedule_of(patient) == (None, None, None, rules.RULES_VERSION)


@pytestmark_db
def test_the_sql_filter_agrees_with_the_rule(site_a):
    """PatientQuerySet.next_cycle (a stored date against today) against schedule_state, at every edge."""
    patient = PatientFactory(site=site_a)
    entered_cycle(patient)
    stored = Patient.objects.get(pk=patient.pk)
    for today in (date(2025, 4, 6), date(2025, 4, 7), date(2025, 4, 21), date(2025, 4, 22), date(2026, 4, 22)):
        expected = schedule_state(window_start=stored.next_cycle_window_start_date,
                                  window_end=stored.next_cycle_window_end_date, today=today).status
        found = [s for s in ScheduleStatus.values if Patient.objects.next_cycle(s, today=today).filter(pk=patient.pk)]
        assert found == [expected], today


@pytestmark_db
def test_the_data_migration_fills_existing_patients(site_a):
    from django.apps import apps

    fill = importlib.import_module("visits.migrations.0009_fill_next_cycle_schedule").fill
    on_study = PatientFactory(site=site_a, subject_id="01-001")
    CycleFactory(patient=on_study, number=1)
    CycleFactory(patient=on_study, number=2)  # 2025-04-14
    new = PatientFactory(site=site_a, subject_id="01-002")
    withdrawn = PatientFactory(site=site_a, subject_id="01-003", status="withdrawn",
                               withdrawal_date=date(2025, 4, 1), withdrawal_reason="x")
    Patient.objects.update(**{name: None for name in SCHEDULE_FACTS}, schedule_rules_version="")

    fill(apps, None)

    assert schedule_of(on_study) == (date(2025, 5, 12), date(2025, 5, 5), date(2025, 5, 19), rules.RULES_VERSION)
    assert schedule_of(new) == (date(2025, 3, 10), date(2025, 3, 10), date(2025, 3, 17), rules.RULES_VERSION)
    assert schedule_of(withdrawn) == (None, None, None, rules.RULES_VERSION)


@pytestmark_db
@pytest.mark.req("URS-CHG-001")
def test_recompute_derived_reports_and_writes_a_stale_schedule(site_a):
    patient = PatientFactory(site=site_a)
    entered_cycle(patient)
    Patient.objects.filter(pk=patient.pk).update(next_cycle_window_end_date=date(2030, 1, 1))
    changes = [c for c in derived_recompute(apply=False, reason="check") if c.field == "next_cycle_window_end_date"]
    assert [(c.stored, c.derived, c.written) for c in changes] == [(date(2030, 1, 1), date(2025, 4, 21), False)]
    derived_recompute(apply=True, reason="Schedule fixed")
    assert schedule_of(patient)[2] == date(2025, 4, 21)
    assert Patient.objects.get(pk=patient.pk).history.first().history_change_reason == "Schedule fixed"


# --- on the pages ------------------------------------------------------------------------------

@pytestmark_db
def test_a_patient_a_year_late_looks_overdue_everywhere(client_for, clinician, site_a):
    patient = PatientFactory(site=site_a, subject_id="01-001")
    entered_cycle(patient)  # the next window closed on 2025-04-21: long ago
    on_time = PatientFactory(site=site_a, subject_id="01-002")
    today = date.today()
    Patient.objects.filter(pk=on_time.pk).update(next_cycle_planned_date=today, next_cycle_window_start_date=today,
                                                 next_cycle_window_end_date=today + timedelta(days=7))
    late = (today - date(2025, 4, 21)).days
    client = client_for(clinician)
    for url in (reverse("patients:patient_detail", args=[patient.pk]), reverse("visits:timeline", args=[patient.pk]),
                reverse("oversight:dashboard"), reverse("patients:patient_list")):
        html = client.get(url).content.decode()
        assert "Overdue" in html and f"{late} days late" in html, url
        assert "next-cycle-overdue" in html  # the colour comes with the words
    listed = client.get(reverse("patients:patient_list"), {"schedule": "overdue"}).context["rows"]
    assert [r["subject_id"] for r in listed] == ["01-001"]
    listed = client.get(reverse("patients:patient_list"), {"schedule": "due"}).context["rows"]
    assert [r["subject_id"] for r in listed] == ["01-002"]
    due = client.get(reverse("oversight:dashboard")).context["sections"]["due"]
    assert due.extra["overdue"][0] == 1 and due.extra["due"][0] == 1
    assert due.extra["overdue"][1] == reverse("patients:patient_list") + "?schedule=overdue"
