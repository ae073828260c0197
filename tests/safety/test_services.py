"""The adverse-event write path: consistency rules on the form and the API
(field errors with codes), the SAE clock from the site's awareness stored on
the row with the rules version, and its recomputation."""

from datetime import date, timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from exchange import datasets
from patients.models import Patient
from safety import rules, services
from safety.models import AdverseEvent
from tests.api.conftest import api_for, codes_of  # noqa: F401  (the fixture)
from tests.patients.factories import PatientFactory

pytestmark = pytest.mark.django_db

ONSET = date(2025, 3, 18)


@pytest.fixture
def patient(site_a):
    return PatientFactory(site=site_a, subject_id="01-001", consent_date=date(2025, 3, 1),
                          enrolment_date=date(2025, 3, 10))


def form_post(**overrides):
    data = {"term": "Aseptic meningitis", "onset_date": ONSET.isoformat(), "grade": "3", "relatedness": "probable",
            "action_taken": "interrupted", "outcome": "recovering"}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def api_json(patient, **overrides):
    data = {"patient": patient.pk, "term": "Aseptic meningitis", "onset_date": ONSET.isoformat(), "grade": 3,
            "relatedness": "probable", "action_taken": "interrupted", "outcome": "recovering"}
    data.update(overrides)
    return data


def form_codes(response):
    return {field: sorted(e.code for e in errors.as_data())
            for field, errors in response.context["form"].errors.items()}


# --- 1. A fatal outcome is grade 5 and the death criterion, and the reverse ------------------

INCONSISTENT = [
    # The case: grade 1, not serious, outcome fatal.
    ({"grade": 1, "outcome": "fatal"}, {"grade": ["fatal_is_grade5"], "serious_death": ["fatal_is_death"]}),
    ({"grade": 5, "serious": True, "serious_death": True, "outcome": "recovered"},
     {"outcome": ["grade5_is_fatal"]}),
    ({"grade": 3, "serious": True, "serious_death": True, "outcome": "fatal"}, {"grade": ["fatal_is_grade5"]}),
    ({"grade": 4, "serious": True, "serious_hospitalisation": True},
     {"serious_life_threatening": ["grade4_is_life_threatening"]}),
]


@pytest.mark.parametrize("overrides, expected", INCONSISTENT)
@pytest.mark.req("URS-PRT-012")
def test_the_form_refuses_an_inconsistent_death(client_for, clinician, patient, overrides, expected):
    post = form_post(**{k: ("on" if v is True else str(v)) for k, v in overrides.items()})
    response = client_for(clinician).post(reverse("safety:ae_create", args=[patient.pk]), post)
    assert response.status_code == 200
    assert form_codes(response) == expected
    assert not AdverseEvent.objects.exists()


@pytest.mark.parametrize("overrides, expected", INCONSISTENT)
@pytest.mark.req("URS-PRT-012")
def test_the_api_refuses_an_inconsistent_death(api_for, clinician, patient, overrides, expected):  # noqa: F811
    response = api_for(clinician).post("/api/v1/adverse-events/", api_json(patient, **overrides), format="json")
    assert response.status_code == 400
    assert codes_of(response) == expected
    assert not AdverseEvent.objects.exists()


def test_a_death_said_consistently_is_stored(api_for, clinician, patient):  # noqa: F811
    response = api_for(clinician).post("/api/v1/adverse-events/", api_json(
        patient, grade=5, serious=True, serious_death=True, outcome="fatal", end_date="2025-03-20"), format="json")
    assert response.status_code == 201, response.json()


def test_a_correction_cannot_make_an_event_fatal_alone(client_for, clinician, patient):
    event = services.adverse_event_save(event=AdverseEvent(patient=patient, term="Thrombosis", onset_date=ONSET,
                                                           grade=3, relatedness="possible", outcome="recovering"))
    response = client_for(clinician).post(reverse("safety:ae_update", args=[patient.pk, event.pk]), form_post(
        term="Thrombosis", relatedness="possible", outcome="fatal", end_date="2025-03-25",
        expected_version=event.version, change_reason="Patient died"))
    assert form_codes(response) == {"grade": ["fatal_is_grade5"], "serious_death": ["fatal_is_death"]}
    event.refresh_from_db()
    assert event.outcome == "recovering" and event.version == 1


# --- 2. The SAE clock runs from the site's awareness -------------------------------------------

@pytest.mark.req("URS-PRT-010")
def test_awareness_defaults_to_the_entry(api_for, clinician, patient):  # noqa: F811
    response = api_for(clinician).post("/api/v1/adverse-events/", api_json(
        patient, serious=True, serious_hospitalisation=True), format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    event = AdverseEvent.objects.get()
    assert event.aware_at == event.sae_entered_at
    assert abs(event.aware_at - event.created_at) < timedelta(seconds=5)
    assert event.report_due_at == event.aware_at + timedelta(hours=24)
    assert (body["reported_late"], body["rules_version"]) == (False, rules.RULES_VERSION)
    assert body["review_due_at"] == body["report_due_at"]


@pytest.mark.req("URS-PRT-010")
def test_an_sae_entered_weeks_after_awareness_is_flagged_late(client_for, clinician, monitor, patient):
    aware = timezone.localtime() - timedelta(weeks=4)
    response = client_for(clinician).post(reverse("safety:ae_create", args=[patient.pk]), form_post(
        serious="on", serious_hospitalisation="on", aware_at=aware.strftime("%Y-%m-%dT%H:%M")))
    assert response.status_code == 302, form_codes(response)
    event = AdverseEvent.objects.get()
    assert event.reported_late
    assert event.report_due_at == event.aware_at + timedelta(hours=24) < event.created_at
    # The review clock runs from awareness too: the event is overdue at once.
    assert event.review_overdue
    # Shown where serious events are listed, and on the event's review page.
    monitor_client = client_for(monitor)
    for name, args in (("safety:ae_list", []), ("oversight:ae_queue", []), ("oversight:ae_listing", []),
                       ("oversight:ae_detail", [event.pk])):
        page = monitor_client.get(reverse(name, args=args)).content.decode()
        assert "reported late" in page, name


@pytest.mark.req("URS-PRT-010")
def test_an_sae_entered_within_24_hours_of_awareness_is_on_time(api_for, clinician, patient):  # noqa: F811
    aware = timezone.now() - timedelta(hours=23)
    response = api_for(clinician).post("/api/v1/adverse-events/", api_json(
        patient, serious=True, serious_hospitalisation=True, aware_at=aware.isoformat()), format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["reported_late"] is False


@pytest.mark.req("URS-PRT-010")
def test_a_non_serious_event_upgraded_later_runs_its_clock_from_then(client_for, clinician, patient):
    event = services.adverse_event_save(event=AdverseEvent(patient=patient, term="Headache", onset_date=ONSET,
                                                           grade=3, relatedness="possible", outcome="recovering"))
    assert (event.sae_entered_at, event.report_due_at, event.reported_late) == (None, None, False)
    aware = timezone.now() - timedelta(days=3)
    response = client_for(clinician).post(reverse("safety:ae_update", args=[patient.pk, event.pk]), form_post(
        term="Headache", relatedness="possible", serious="on", serious_hospitalisation="on",
        aware_at=timezone.localtime(aware).strftime("%Y-%m-%dT%H:%M"),
        expected_version=event.version, change_reason="Hospitalised"))
    assert response.status_code == 302, form_codes(response)
    event.refresh_from_db()
    assert event.sae_entered_at > event.created_at and event.reported_late


@pytest.mark.parametrize("aware, code", [
    (timezone.now() + timedelta(days=1), "in_future"),
    (timezone.make_aware(timezone.datetime(2025, 3, 17, 12, 0)), "before_onset"),
])
def test_awareness_not_in_the_future_nor_before_onset(api_for, clinician, patient, aware, code):  # noqa: F811
    response = api_for(clinician).post("/api/v1/adverse-events/", api_json(patient, aware_at=aware.isoformat()),
                                       format="json")
    assert codes_of(response) == {"aware_at": [code]}


def test_the_ae_export_table_carries_the_clock(patient):
    aware = timezone.now() - timedelta(days=2)
    services.adverse_event_save(event=AdverseEvent(
        patient=patient, term="Aseptic meningitis", onset_date=ONSET, grade=3, serious=True,
        serious_hospitalisation=True, relatedness="probable", outcome="recovering", aware_at=aware))
    [row] = datasets.adverse_event_rows(Patient.objects.all())
    assert row["aware_at"] == aware and row["reported_late"] is True
    assert row["report_due_at"] == aware + timedelta(hours=24)
    assert {"aware_at", "report_due_at", "reported_late"} <= {c.name for c in datasets.AE_COLUMNS}


# --- recompute_derived: a rules change flows through the stored facts ---------------------------

@pytest.mark.req("URS-CHG-001")
def test_a_rule_change_flows_through_recompute_derived(patient, monkeypatch, admin_user):
    aware = timezone.now() - timedelta(hours=30)
    event = services.adverse_event_save(event=AdverseEvent(
        patient=patient, term="Aseptic meningitis", onset_date=ONSET, grade=3, serious=True,
        serious_hospitalisation=True, relatedness="probable", outcome="recovering", aware_at=aware))
    assert event.reported_late and event.version == 1
    # An amendment gives sites 48 hours.
    monkeypatch.setattr(rules, "EXPEDITED_REVIEW_WINDOW", timedelta(hours=48))
    monkeypatch.setattr(rules, "RULES_VERSION", "2027.01")
    call_command("recompute_derived", "--app", "safety", stdout=(out := __import__("io").StringIO()))
    text = out.getvalue()
    assert f"AdverseEvent {event.pk}" in text and "reported_late True -> False (would change)" in text
    assert "report_due_at" in text and "Dry run: 2 stored fact(s) would change" in text
    event.refresh_from_db()
    assert (event.reported_late, event.version, event.rules_version) == (True, 1, "2026.12")

    call_command("recompute_derived", "--app", "safety", "--apply", "--reason", "Amendment 3: 48 hours",
                 "--user", admin_user.username, stdout=(out := __import__("io").StringIO()))
    event.refresh_from_db()
    assert (event.reported_late, event.report_due_at, event.rules_version) == (
        False, aware + timedelta(hours=48), "2027.01")
    latest = event.history.first()
    assert (latest.history_change_reason, latest.history_user) == ("Amendment 3: 48 hours", admin_user)
    # Nothing left to change.
    call_command("recompute_derived", "--app", "safety", stdout=(out := __import__("io").StringIO()))
    assert "Dry run: 0 stored fact(s)" in out.getvalue()


def test_recompute_reports_a_locked_casebook_without_writing(patient, monkeypatch, admin_user):
    from oversight.services import record_lock

    event = services.adverse_event_save(event=AdverseEvent(
        patient=patient, term="Aseptic meningitis", onset_date=ONSET, grade=3, serious=True,
        serious_hospitalisation=True, relatedness="probable", outcome="recovering",
        aware_at=timezone.now() - timedelta(hours=30)))
    record_lock(record=patient, user=admin_user, reason="Database lock")
    monkeypatch.setattr(rules, "EXPEDITED_REVIEW_WINDOW", timedelta(hours=48))
    changes = services.derived_recompute(apply=True, reason="Amendment 3")
    assert changes and all(not c.written and "locked" in c.refused for c in changes)
    event.refresh_from_db()
    assert event.reported_late and event.version == 1
