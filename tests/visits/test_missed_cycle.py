"""Issue 15: the missed cycle (a month without infusion): the rule that moves the
schedule, the hard rules, the services (history, schedule stored, void), the page and
the API, the casebook, the report and the exports."""

import csv
import io
import zipfile
from datetime import date, timedelta

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from api.services import token_create
from exchange import datasets
from patients.models import Patient
from reporting.selectors import outcome_report
from tests.patients.factories import PatientFactory
from tests.visits.factories import full_cycle
from visits import rules
from visits.models import MissedCycle
from visits.rules import MissedCycleReason, missed_cycle_violations, next_cycle
from visits.services import missed_cycle_save, missed_cycle_void, patient_schedule_refresh

START = date(2025, 3, 17)  # the factories' cycle 1
MISSED = START + timedelta(days=28)  # 2025-04-14: the cycle 2 that was not given


# --- the rule, without a database ------------------------------------------------------------

@pytest.mark.req("URS-PRT-007")
def test_a_missed_cycle_moves_the_next_cycle_28_days_after_its_planned_date():
    schedule = next_cycle(on_study=True, last_start=START, enrolment_date=date(2025, 3, 10),
                          last_missed_planned=MISSED)
    assert (schedule.next_cycle_planned_date, schedule.next_cycle_window_start_date,
            schedule.next_cycle_window_end_date) == (date(2025, 5, 12), date(2025, 5, 5), date(2025, 5, 19))


def test_a_cycle_given_after_the_missed_one_is_the_anchor_again():
    given = MISSED + timedelta(days=30)
    schedule = next_cycle(on_study=True, last_start=given, enrolment_date=date(2025, 3, 10),
                          last_missed_planned=MISSED)
    assert schedule.next_cycle_planned_date == given + timedelta(days=rules.CYCLE_INTERVAL_DAYS)
    assert rules.schedule_anchor(last_start=given, last_missed_planned=MISSED) == given
    assert rules.schedule_anchor(last_start=None, last_missed_planned=None) is None


def test_a_missed_first_cycle_counts_from_its_planned_date():
    schedule = next_cycle(on_study=True, last_start=None, enrolment_date=date(2025, 3, 10),
                          last_missed_planned=date(2025, 3, 10))
    assert schedule.next_cycle_planned_date == date(2025, 4, 7)


def test_no_missed_cycle_leaves_the_schedule_as_before():
    assert (next_cycle(on_study=True, last_start=START, enrolment_date=date(2025, 3, 10), last_missed_planned=None)
            == next_cycle(on_study=True, last_start=START, enrolment_date=date(2025, 3, 10)))
    assert next_cycle(on_study=False, last_start=START, enrolment_date=None,
                      last_missed_planned=MISSED) == rules.NO_NEXT_CYCLE


def _violations(**overrides):
    facts = dict(today=date(2025, 5, 1), planned_date=MISSED, enrolment_date=date(2025, 3, 10),
                 withdrawal_date=None, cycle_starts=[START], reason="declined", reason_detail="")
    facts.update(overrides)
    return {(v.field, v.code) for v in missed_cycle_violations(**facts)}


@pytest.mark.parametrize("overrides, expected", [
    ({}, set()),
    ({"planned_date": date(2025, 3, 1)}, {("planned_date", "before_enrolment")}),
    ({"withdrawal_date": date(2025, 4, 1)}, {("planned_date", "after_withdrawal")}),
    ({"planned_date": START + timedelta(days=7)}, {("planned_date", "cycle_given")}),
    ({"planned_date": START + timedelta(days=8)}, set()),
    ({"today": MISSED - timedelta(days=8)}, {("planned_date", "too_far_ahead")}),
    ({"today": MISSED - timedelta(days=7)}, set()),
    ({"reason": "other"}, {("reason_detail", "detail_required")}),
    ({"reason": "other", "reason_detail": "moved house"}, set()),
])
@pytest.mark.req("URS-PRT-014")
def test_missed_cycle_violations(overrides, expected):
    assert _violations(**overrides) == expected


def test_the_reasons_are_the_brief_s():
    assert {c.value for c in MissedCycleReason} == {"unwell", "declined", "drug_supply", "hospitalisation", "other"}


# --- services --------------------------------------------------------------------------------

@pytest.fixture
def patient(site_a):
    patient = PatientFactory(site=site_a, subject_id="01-001")
    full_cycle(patient)
    patient_schedule_refresh(patient_id=patient.pk, reason="Cycle entered")
    patient.refresh_from_db()
    assert patient.next_cycle_planned_date == MISSED
    return patient


@pytest.mark.req("URS-PRT-014")
def test_missed_cycle_save_stores_the_moved_schedule_with_history(patient, clinician):
    missed = missed_cycle_save(missed=MissedCycle(patient=patient, planned_date=MISSED, reason="unwell"),
                               user=clinician)
    patient.refresh_from_db()
    assert patient.next_cycle_planned_date == date(2025, 5, 12)
    assert (patient.next_cycle_window_start_date, patient.next_cycle_window_end_date) == (
        date(2025, 5, 5), date(2025, 5, 19))
    row = missed.history.get()
    assert (row.history_type, row.history_user) == ("+", clinician)
    latest = patient.history.order_by("-history_id").first()
    assert latest.history_change_reason == "Missed cycle recorded"


def test_a_refused_missed_cycle_writes_nothing(patient, clinician):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as error:
        missed_cycle_save(missed=MissedCycle(patient=patient, planned_date=START + timedelta(days=3),
                                             reason="other"), user=clinician)
    assert set(error.value.error_dict) == {"planned_date", "reason_detail"}
    assert not MissedCycle.objects.exists()
    patient.refresh_from_db()
    assert patient.next_cycle_planned_date == MISSED


@pytest.mark.req("URS-PRO-001")
def test_void_keeps_the_row_and_restores_the_schedule(patient, clinician):
    missed = missed_cycle_save(missed=MissedCycle(patient=patient, planned_date=MISSED, reason="drug_supply"),
                               user=clinician)
    missed_cycle_void(missed=missed, reason="Entered for the wrong patient", expected_version=missed.version,
                      user=clinician)
    missed.refresh_from_db()
    assert missed.voided_at is not None and missed.void_reason == "Entered for the wrong patient"
    assert MissedCycle.objects.count() == 1 and not MissedCycle.objects.current().exists()
    patient.refresh_from_db()
    assert patient.next_cycle_planned_date == MISSED
    assert missed.history.order_by("-history_id").first().history_change_reason.startswith("Voided:")


def test_one_current_missed_cycle_per_planned_date(patient, clinician):
    from django.core.exceptions import ValidationError

    missed_cycle_save(missed=MissedCycle(patient=patient, planned_date=MISSED, reason="unwell"), user=clinician)
    with pytest.raises(ValidationError):
        missed_cycle_save(missed=MissedCycle(patient=patient, planned_date=MISSED, reason="declined"), user=clinician)


def test_a_locked_casebook_refuses_a_missed_cycle(patient, clinician):
    from django.core.exceptions import ValidationError
    from django.utils import timezone

    Patient.objects.filter(pk=patient.pk).update(locked_at=timezone.now())
    with pytest.raises(ValidationError):
        missed_cycle_save(missed=MissedCycle(patient=patient, planned_date=MISSED, reason="unwell"), user=clinician)
    assert not MissedCycle.objects.exists()


def test_recompute_finds_no_difference_after_a_missed_cycle(patient, clinician):
    from visits.services import schedules_recompute

    missed_cycle_save(missed=MissedCycle(patient=patient, planned_date=MISSED, reason="unwell"), user=clinician)
    assert [c for c in schedules_recompute(apply=False, reason="check") if "01-001" in c.record] == []


# --- pages -------------------------------------------------------------------------------------

def test_the_page_defaults_to_the_planned_date_and_records(client_for, clinician, patient):
    client = client_for(clinician)
    url = reverse("visits:missedcycle_create", args=[patient.pk])
    page = client.get(url)
    assert page.status_code == 200
    assert page.context["form"].initial.get("planned_date") == MISSED or \
        page.context["form"].fields["planned_date"].initial == MISSED
    bad = client.post(url, {"planned_date": MISSED.isoformat(), "reason": "other", "reason_detail": ""})
    assert bad.status_code == 200 and "reason_detail" in bad.context["form"].errors
    assert not MissedCycle.objects.exists()
    ok = client.post(url, {"planned_date": MISSED.isoformat(), "reason": "hospitalisation", "reason_detail": "Pneumonia"})
    assert ok.status_code == 302 and ok["Location"] == reverse("visits:timeline", args=[patient.pk])
    missed = MissedCycle.objects.get()
    assert (missed.reason, missed.history.get().history_user) == ("hospitalisation", clinician)
    timeline = client.get(reverse("visits:timeline", args=[patient.pk])).content.decode()
    assert "Hospitalisation" in timeline and "Pneumonia" in timeline and "Record missed cycle" in timeline


def test_the_void_page(client_for, clinician, patient):
    missed = missed_cycle_save(missed=MissedCycle(patient=patient, planned_date=MISSED, reason="unwell"),
                               user=clinician)
    client = client_for(clinician)
    url = reverse("visits:missedcycle_void", args=[patient.pk, missed.pk])
    assert client.get(url).status_code == 200
    assert client.post(url, {"void_reason": "", "expected_version": missed.version}).status_code == 200
    response = client.post(url, {"void_reason": "Wrong month", "expected_version": missed.version})
    assert response.status_code == 302
    missed.refresh_from_db()
    assert missed.void_reason == "Wrong month"


@pytest.mark.parametrize("role", ["coordinator", "monitor"])
def test_read_only_roles_may_not_record(client_for, request, role, patient):
    client = client_for(request.getfixturevalue(role))
    assert client.get(reverse("visits:missedcycle_create", args=[patient.pk])).status_code == 403


def test_another_site_s_patient_is_404(client_for, clinician_b, patient):
    client = client_for(clinician_b)
    assert client.get(reverse("visits:missedcycle_create", args=[patient.pk])).status_code == 404


def test_the_casebook_shows_the_missed_cycle_and_its_history(client_for, monitor, clinician, patient):
    missed_cycle_save(missed=MissedCycle(patient=patient, planned_date=MISSED, reason="declined",
                                         reason_detail="Holiday"), user=clinician)
    page = client_for(monitor).get(reverse("casebook:casebook_detail", args=[patient.pk]))
    assert page.status_code == 200
    text = page.content.decode()
    assert "Missed cycle planned 2025-04-14" in text and "Holiday" in text
    assert len(page.context["casebook"].missed_cycles) == 1
    assert any(entry for entry in page.context["casebook"].change_log if "missed cycle" in str(entry))


# --- API ---------------------------------------------------------------------------------------

def _api(user):
    _, token = token_create(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def test_api_create_refuse_and_void(clinician, clinician_b, patient):
    api = _api(clinician)
    bad = api.post("/api/v1/missed-cycles/", {"patient": patient.pk, "planned_date": "2025-03-20",
                                              "reason": "other"}, format="json")
    assert bad.status_code == 400
    errors = bad.json()["errors"]
    assert {e["code"] for e in errors["planned_date"]} == {"cycle_given"}
    assert {e["code"] for e in errors["reason_detail"]} == {"detail_required"}
    assert not MissedCycle.objects.exists()
    created = api.post("/api/v1/missed-cycles/", {"patient": patient.pk, "planned_date": MISSED.isoformat(),
                                                  "reason": "drug_supply"}, format="json")
    assert created.status_code == 201, created.json()
    body = created.json()
    patient.refresh_from_db()
    assert patient.next_cycle_planned_date == date(2025, 5, 12)
    assert api.delete(f"/api/v1/missed-cycles/{body['id']}/").status_code == 405
    assert _api(clinician_b).get(f"/api/v1/missed-cycles/{body['id']}/").status_code == 404
    voided = api.post(f"/api/v1/missed-cycles/{body['id']}/void/", {"void_reason": "duplicate", "version": body["version"]},
                      format="json")
    assert voided.status_code == 200 and voided.json()["voided_at"]
    patient.refresh_from_db()
    assert patient.next_cycle_planned_date == MISSED


# --- report and exports --------------------------------------------------------------------------

@pytest.mark.req("URS-PRT-014")
def test_report_counts_missed_cycles_per_patient_and_reason(patient, clinician, site_a):
    missed_cycle_save(missed=MissedCycle(patient=patient, planned_date=MISSED, reason="unwell"), user=clinician)
    other = PatientFactory(site=site_a)
    full_cycle(other)
    report = outcome_report(Patient.objects.all())
    by_subject = {o.subject_id: o for o in report.patients}
    assert (by_subject["01-001"].missed, by_subject[other.subject_id].missed) == (1, 0)
    e = report.exposure
    assert (e["cycles_given"], e["cycles_missed"], e["cycles_planned"], e["missed_patients"]) == (2, 1, 3, 1)
    assert dict(e["missed_by_reason"])["Patient unwell"] == 1


def test_the_csv_export_has_the_missed_cycles_table_and_dictionary(patient, clinician, client_for, coordinator):
    missed_cycle_save(missed=MissedCycle(patient=patient, planned_date=MISSED, reason="declined"), user=clinician)
    voided = missed_cycle_save(missed=MissedCycle(patient=patient, planned_date=MISSED + timedelta(days=28),
                                                  reason="unwell"), user=clinician)
    missed_cycle_void(missed=voided, reason="error", expected_version=voided.version, user=clinician)
    assert list(datasets.TABLES_BY_NAME["missed_cycles"].rows(Patient.objects.all())) == [
        {"subject_id": "01-001", "planned_date": MISSED, "reason": "declined", "reason_detail": ""}]
    response = client_for(coordinator).get("/exports/download/", {"format": "csv"})
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    rows = list(csv.reader(io.TextIOWrapper(archive.open("missed_cycles.csv"), encoding="utf-8-sig")))
    assert rows == [["subject_id", "planned_date", "reason", "reason_detail"], ["01-001", "2025-04-14", "declined", ""]]
    dictionary = archive.read("data_dictionary.csv").decode("utf-8-sig")
    assert "missed_cycles" in dictionary


@pytest.mark.req("URS-PRT-014")
def test_a_cycle_given_within_a_window_of_a_current_missed_cycle_is_refused(patient, clinician):
    """The converse of "cycle_given": a month recorded as missed cannot also have its
    infusion (exposure and the report would count both); voided, the cycle is accepted."""
    from django.core.exceptions import ValidationError

    from visits.models import TreatmentCycle

    missed = missed_cycle_save(missed=MissedCycle(patient=patient, planned_date=MISSED, reason="declined"),
                               user=clinician)
    first = TreatmentCycle.objects.get(patient=patient, number=1)
    cycle = TreatmentCycle(patient=patient, number=2, start_date=MISSED + timedelta(days=3),
                           weight_kg=first.weight_kg, height_cm=first.height_cm, dosing_basis=first.dosing_basis)
    with pytest.raises(ValidationError) as error:
        cycle.full_clean()
    assert {e.code for e in error.value.error_dict["start_date"]} == {"cycle_missed"}
    assert {(v.field, v.code) for v in rules.cycle_violations(
        today=MISSED + timedelta(days=30), start_date=MISSED + timedelta(days=8), weight_kg=None, height_cm=None,
        dosing_basis=None, enrolment_date=None, withdrawal_date=None, previous_start=None, next_start=None,
        missed_planned=[MISSED])} == set()
    missed.refresh_from_db()
    missed_cycle_void(missed=missed, reason="It was given after all", expected_version=missed.version,
                      user=clinician)
    cycle.full_clean()
