"""Adverse-event review: the serious-event queue, acknowledgement and medical
review, follow-up until resolved, the AE listing and its CSV export."""

import csv
import io
from datetime import date, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from safety import services
from safety.models import AdverseEvent, AdverseEventFollowUp, AdverseEventReview
from tests.patients.factories import PatientFactory

pytestmark = pytest.mark.django_db

ONSET = date(2025, 3, 18)


@pytest.fixture
def patient(site_a):
    return PatientFactory(site=site_a, subject_id="01-001")


def make_event(patient, serious=True, **overrides):
    values = dict(patient=patient, term="Aseptic meningitis", onset_date=ONSET, grade=3,
                  relatedness="possible", action_taken="interrupted", outcome="recovering")
    if serious:
        values.update(serious=True, serious_hospitalisation=True)
    values.update(overrides)
    return services.adverse_event_save(event=AdverseEvent(**values))  # the SAE clock, as every channel


def entered_hours_ago(event, hours):
    """Entered (and, by default, the site aware) ``hours`` ago: every time of the clock moves back."""
    back = timedelta(hours=hours)
    AdverseEvent.objects.filter(pk=event.pk).update(
        created_at=event.created_at - back, aware_at=event.aware_at - back,
        sae_entered_at=event.sae_entered_at - back if event.sae_entered_at else None,
        report_due_at=event.report_due_at - back if event.report_due_at else None)
    event.refresh_from_db()
    return event


def review_post(event, **overrides):
    data = {"review-comment": "Typical aseptic meningitis 48 h after the day 2 infusion.",
            "review-reviewer_relatedness": "probable", "review-agrees_with_seriousness": "true",
            "review-event_version": event.version}
    data.update(overrides)
    return data


def follow_up_post(**overrides):
    data = {"fu-follow_up_date": "2025-03-25", "fu-note": "Headache settling; discharged home.",
            "fu-outcome": "recovering"}
    data.update({f"fu-{k}": v for k, v in overrides.items()})
    return {k: v for k, v in data.items() if v is not None}


def url(name, event):
    return reverse(f"oversight:{name}", args=[event.pk])


# --- the full flow ---------------------------------------------------------------

@pytest.mark.req("URS-OPS-005")
def test_serious_event_from_report_to_medical_review(client_for, clinician, monitor, patient):
    # The clinician reports a serious event.
    clinician_client = client_for(clinician)
    response = clinician_client.post(reverse("safety:ae_create", args=[patient.pk]), {
        "term": "Aseptic meningitis", "onset_date": "2025-03-18", "grade": "3", "serious": "on",
        "serious_hospitalisation": "on", "relatedness": "possible", "action_taken": "none",
        "outcome": "recovering"})
    assert response.status_code == 302
    event = AdverseEvent.objects.get()

    # The monitor sees it at the top of the queue, due 24 h after entry.
    monitor_client = client_for(monitor)
    page = monitor_client.get(reverse("oversight:ae_queue"))
    assert page.status_code == 200
    assert [ae.pk for ae in page.context["awaiting"]] == [event.pk]
    row = page.context["awaiting"][0]
    assert row.clock.due_at == event.aware_at + timedelta(hours=24) == event.report_due_at
    assert not row.clock.overdue and row.clock.label.endswith("left")
    assert "not acknowledged" in page.content.decode()
    assert "table-danger" not in page.content.decode()

    # 25 hours later it is overdue and highlighted.
    event = entered_hours_ago(event, 25)
    page = monitor_client.get(reverse("oversight:ae_queue"))
    row = page.context["awaiting"][0]
    assert row.clock.overdue and row.clock.label.startswith("overdue by 1h")
    html = page.content.decode()
    assert 'class="table-danger"' in html and "overdue by 1h" in html

    # Acknowledgement: recorded, but the event still awaits its medical review.
    response = monitor_client.post(url("ae_acknowledge", event), {"ack-comment": "Seen, reading the notes."})
    assert response.status_code == 302
    ack = AdverseEventReview.objects.get()
    assert (ack.kind, ack.reviewer, ack.comment) == ("acknowledgement", monitor, "Seen, reading the notes.")
    assert ack.history.get().history_user == monitor
    event.refresh_from_db()
    assert event.reviewed_at is None and event.version == 1
    page = monitor_client.get(reverse("oversight:ae_queue"))
    assert page.context["awaiting"][0].acknowledged_by_name == monitor.username
    assert 'id="sae-banner"' in page.content.decode()

    # A medical review without a comment is a field error and stores nothing.
    response = monitor_client.post(url("ae_review", event), review_post(event, **{"review-comment": ""}))
    assert response.status_code == 200
    assert "comment" in response.context["review_form"].errors
    assert AdverseEventReview.objects.count() == 1
    event.refresh_from_db()
    assert event.reviewed_at is None

    # The medical review marks the event reviewed, with the monitor in the history.
    response = monitor_client.post(url("ae_review", event), review_post(event))
    assert response.status_code == 302
    review = AdverseEventReview.objects.get(kind="medical_review")
    assert (review.reviewer, review.reviewer_relatedness, review.agrees_with_seriousness) == (
        monitor, "probable", True)
    assert review.history.get().history_user == monitor
    event.refresh_from_db()
    assert event.reviewed_at == review.reviewed_at and event.reviewed_by == monitor
    assert event.version == 2
    row = event.history.latest()
    assert row.history_user == monitor and row.history_type == "~"
    assert row.history_change_reason.startswith(f"Medical review by {monitor.username}: Typical aseptic")

    # The banner is gone; the queue lists the event as reviewed (late).
    page = monitor_client.get(reverse("oversight:ae_queue"))
    assert 'id="sae-banner"' not in page.content.decode()
    assert page.context["awaiting"] == []
    assert [ae.pk for ae in page.context["reviewed"]] == [event.pk]
    assert page.context["reviewed"][0].clock.late
    assert page.context["reviewed"][0].reviewer_relatedness_label == "Probable / likely"


@pytest.mark.req("URS-PRT-011")
def test_queue_orders_by_due_time_then_recent_reviews(client_for, monitor, admin_user, patient, site_b):
    other = PatientFactory(site=site_b, subject_id="02-001")
    newest = make_event(patient, term="newest")
    oldest = entered_hours_ago(make_event(other, term="oldest"), 30)
    middle = entered_hours_ago(make_event(patient, term="middle"), 10)
    reviewed = make_event(patient, term="reviewed")
    services.adverse_event_review(adverse_event=reviewed, user=admin_user, comment="Fine.",
                                  reviewer_relatedness="unlikely")
    long_ago = make_event(patient, term="reviewed long ago")
    services.adverse_event_review(adverse_event=long_ago, user=admin_user, comment="Fine.",
                                  reviewer_relatedness="unlikely")
    AdverseEvent.objects.filter(pk=long_ago.pk).update(reviewed_at=timezone.now() - timedelta(days=15))
    make_event(patient, serious=False, term="not serious")
    voided = make_event(patient, term="voided")
    AdverseEvent.objects.filter(pk=voided.pk).update(voided_at=timezone.now(), void_reason="duplicate")

    page = client_for(monitor).get(reverse("oversight:ae_queue"))
    assert [ae.term for ae in page.context["awaiting"]] == ["oldest", "middle", "newest"]
    assert [ae.term for ae in page.context["reviewed"]] == ["reviewed"]
    assert [ae.clock.overdue for ae in page.context["awaiting"]] == [True, False, False]
    assert page.content.decode().count('class="table-danger"') == 1


@pytest.mark.parametrize("role", ["clinician", "investigator", "coordinator"])
@pytest.mark.req("URS-AUT-004")
def test_only_monitors_and_admins_acknowledge_and_review(client_for, make_user, site_a, patient, role):
    event = make_event(patient)
    client = client_for(make_user(role, site_a if role != "coordinator" else None))
    assert client.get(reverse("oversight:ae_queue")).status_code == 403
    assert client.post(url("ae_acknowledge", event), {"ack-comment": ""}).status_code == 403
    assert client.post(url("ae_review", event), review_post(event)).status_code == 403
    page = client.get(url("ae_detail", event))
    assert page.status_code == 200
    assert "acknowledge_form" not in page.context and "review_form" not in page.context
    assert not AdverseEventReview.objects.exists()
    event.refresh_from_db()
    assert event.reviewed_at is None and event.version == 1


def test_admin_reviews_and_the_banner_goes(client_for, admin_user, patient):
    event = make_event(patient)
    client = client_for(admin_user)
    assert 'id="sae-banner"' in client.get(url("ae_detail", event)).content.decode()
    assert client.post(url("ae_review", event), review_post(event)).status_code == 302
    page = client.get(url("ae_detail", event))
    assert 'id="sae-banner"' not in page.content.decode()
    assert "acknowledge_form" not in page.context  # nothing left to acknowledge after the review
    assert "review_form" in page.context  # a second opinion is still possible


@pytest.mark.req("URS-OPS-005")
def test_acknowledgement_is_once_and_not_after_the_review(client_for, monitor, admin_user, patient):
    event = make_event(patient)
    client = client_for(monitor)
    assert client.post(url("ae_acknowledge", event), {}).status_code == 302
    response = client.post(url("ae_acknowledge", event), {})
    assert response.status_code == 200
    assert "already acknowledged" in str(response.context["acknowledge_form"].non_field_errors())
    assert AdverseEventReview.objects.count() == 1

    reviewed = make_event(patient, term="Headache")
    services.adverse_event_review(adverse_event=reviewed, user=admin_user, comment="Minor.",
                                  reviewer_relatedness="possible")
    with pytest.raises(ValidationError) as exc:
        services.adverse_event_acknowledge(adverse_event=reviewed, user=monitor)
    assert exc.value.error_dict["__all__"][0].code == "already_reviewed"


def test_review_needs_relatedness_and_a_reviewer_role(monitor, clinician, patient):
    event = make_event(patient)
    with pytest.raises(ValidationError) as exc:
        services.adverse_event_review(adverse_event=event, user=monitor, comment="ok", reviewer_relatedness="")
    assert set(exc.value.error_dict) == {"reviewer_relatedness"}
    with pytest.raises(ValidationError) as exc:
        services.adverse_event_review(adverse_event=event, user=clinician, comment="ok",
                                      reviewer_relatedness="possible")
    assert exc.value.error_dict["__all__"][0].code == "not_a_reviewer"
    assert not AdverseEventReview.objects.exists()


def test_any_event_may_be_reviewed_and_a_second_review_keeps_the_first_date(monitor, admin_user, patient):
    event = make_event(patient, serious=False, grade=1, term="Headache")
    first = services.adverse_event_review(adverse_event=event, user=monitor, comment="Expected.",
                                          reviewer_relatedness="probable")
    second = services.adverse_event_review(adverse_event=event, user=admin_user, comment="Agree.",
                                           reviewer_relatedness="certain")
    event.refresh_from_db()
    assert event.reviewed_at == first.reviewed_at and event.reviewed_by == monitor
    assert second.pk and event.history.count() == 2  # created, then reviewed once
    listed = AdverseEvent.objects.with_review_state().get(pk=event.pk)
    assert listed.reviewer_relatedness == "certain"  # the latest medical review


@pytest.mark.req("URS-OPS-005")
def test_review_of_a_changed_event_is_refused(client_for, clinician, monitor, patient):
    event = make_event(patient)
    opened = review_post(event)
    clinician_client = client_for(clinician)
    response = clinician_client.post(reverse("safety:ae_update", args=[patient.pk, event.pk]), {
        "term": event.term, "onset_date": "2025-03-18", "grade": "4", "serious": "on",
        "serious_hospitalisation": "on", "relatedness": "possible", "action_taken": "interrupted",
        "outcome": "recovering", "expected_version": event.version, "change_reason": "Regraded",
        "serious_life_threatening": "on"})  # grade 4 is life-threatening
    assert response.status_code == 302
    response = client_for(monitor).post(url("ae_review", event), opened)
    assert response.status_code == 200
    assert "changed after you opened" in str(response.context["review_form"].non_field_errors())
    assert not AdverseEventReview.objects.exists()


@pytest.mark.req("URS-OPS-005")
def test_voided_event_cannot_be_reviewed_or_followed_up(client_for, monitor, clinician, patient):
    event = make_event(patient)
    AdverseEvent.objects.filter(pk=event.pk).update(voided_at=timezone.now(), void_reason="duplicate")
    page = client_for(monitor).get(url("ae_detail", event))
    assert page.status_code == 200 and "review_form" not in page.context
    response = client_for(monitor).post(url("ae_review", event), review_post(event))
    assert "voided" in str(response.context["review_form"].non_field_errors())
    response = client_for(clinician).post(url("ae_follow_up", event), follow_up_post())
    assert "voided" in str(response.context["follow_up_form"].non_field_errors())
    assert not AdverseEventReview.objects.exists() and not AdverseEventFollowUp.objects.exists()


# --- follow-up -------------------------------------------------------------------

@pytest.mark.req("URS-OPS-005")
def test_follow_up_until_resolved(client_for, clinician, patient):
    event = make_event(patient, outcome="not_recovered")
    client = client_for(clinician)
    assert "follow_up_form" in client.get(url("ae_detail", event)).context

    response = client.post(url("ae_follow_up", event), follow_up_post())
    assert response.status_code == 302
    event.refresh_from_db()
    assert (event.outcome, event.end_date, event.version) == ("recovering", None, 2)
    assert event.history.latest().history_change_reason == (
        "Follow-up of 2025-03-25: Headache settling; discharged home.")

    response = client.post(url("ae_follow_up", event), follow_up_post(
        follow_up_date="2025-04-01", note="Symptom-free since 29 March.", outcome="recovered",
        end_date="2025-03-29"))
    assert response.status_code == 302
    event.refresh_from_db()
    assert (event.outcome, event.end_date) == ("recovered", date(2025, 3, 29))
    row = event.history.latest()
    assert (row.history_user, row.history_change_reason) == (
        clinician, "Follow-up of 2025-04-01: Symptom-free since 29 March.")
    follow_up = AdverseEventFollowUp.objects.latest("follow_up_date")
    assert follow_up.entered_by == clinician and follow_up.history.get().history_user == clinician

    # Resolved: no more follow-up form, and a further post is refused with a clear message.
    page = client.get(url("ae_detail", event))
    assert "follow_up_form" not in page.context and "no further follow-up" in page.content.decode()
    response = client.post(url("ae_follow_up", event), follow_up_post(follow_up_date="2025-04-08"))
    assert response.status_code == 200
    assert "already resolved" in str(response.context["follow_up_form"].non_field_errors())
    assert AdverseEventFollowUp.objects.count() == 2
    event.refresh_from_db()
    assert event.outcome == "recovered" and event.version == 3


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"outcome": "recovered"}, "end_date"),  # a resolving outcome needs the end date
        ({"end_date": "2025-03-24"}, "end_date"),  # an end date with an ongoing outcome
        ({"follow_up_date": "2025-03-17"}, "follow_up_date"),  # before onset
        ({"follow_up_date": (date.today() + timedelta(days=2)).isoformat()}, "follow_up_date"),
        ({"outcome": "recovered", "end_date": "2025-03-26"}, "end_date"),  # after the follow-up
        ({"outcome": "recovered", "end_date": "2025-03-10"}, "end_date"),  # before onset
        ({"note": ""}, "note"),
    ],
)
def test_bad_follow_up_is_a_field_error(client_for, clinician, patient, overrides, field):
    event = make_event(patient)
    response = client_for(clinician).post(url("ae_follow_up", event), follow_up_post(**overrides))
    assert response.status_code == 200
    assert field in response.context["follow_up_form"].errors
    assert not AdverseEventFollowUp.objects.exists()
    event.refresh_from_db()
    assert event.version == 1


def test_follow_up_is_entered_by_the_site(client_for, clinician_b, coordinator, monitor, patient):
    event = make_event(patient)
    assert client_for(clinician_b).get(url("ae_detail", event)).status_code == 404
    assert client_for(clinician_b).post(url("ae_follow_up", event), follow_up_post()).status_code == 404
    assert client_for(coordinator).post(url("ae_follow_up", event), follow_up_post()).status_code == 403
    assert client_for(monitor).post(url("ae_follow_up", event), follow_up_post()).status_code == 403
    assert "follow_up_form" not in client_for(monitor).get(url("ae_detail", event)).context
    assert not AdverseEventFollowUp.objects.exists()


def test_event_entered_resolved_takes_no_follow_up(investigator, patient):
    event = make_event(patient, outcome="recovered", end_date=date(2025, 3, 20))
    with pytest.raises(ValidationError) as exc:
        services.adverse_event_follow_up(adverse_event=event, user=investigator, follow_up_date=date(2025, 3, 25),
                                         note="Still fine.", outcome="recovered", end_date=date(2025, 3, 20))
    assert exc.value.error_dict["__all__"][0].code == "event_resolved"


def test_fatal_follow_up_needs_the_event_to_say_death(client_for, investigator, patient):
    event = make_event(patient, outcome="not_recovered")
    client = client_for(investigator)
    response = client.post(url("ae_follow_up", event), follow_up_post(outcome="fatal", end_date="2025-03-25"))
    assert response.status_code == 200
    assert response.context["follow_up_form"].errors["outcome"][0].startswith("A fatal outcome means")
    assert not AdverseEventFollowUp.objects.exists()
    # Once the event is corrected to a death, the fatal follow-up closes it.
    AdverseEvent.objects.filter(pk=event.pk).update(grade=5, serious_death=True)
    response = client.post(url("ae_follow_up", event), follow_up_post(outcome="fatal", end_date="2025-03-25"))
    assert response.status_code == 302
    event.refresh_from_db()
    assert (event.outcome, event.end_date) == ("fatal", date(2025, 3, 25))


# --- listing and export ------------------------------------------------------------

@pytest.fixture
def listing_events(patient, site_b, admin_user):
    other = PatientFactory(site=site_b, subject_id="02-001")
    events = [
        make_event(patient, term="Headache", serious=False, grade=1, relatedness="probable", outcome="recovered",
                   end_date=date(2025, 3, 19)),
        make_event(patient, term="Aseptic meningitis", grade=3, relatedness="possible", outcome="recovering"),
        make_event(other, term="=HYPERLINK(\"x\")", serious=False, grade=2, relatedness="unlikely",
                   outcome="not_recovered"),
        make_event(other, term="Thrombosis", grade=4, serious_life_threatening=True, relatedness="probable",
                   outcome="sequelae", end_date=date(2025, 3, 30)),
    ]
    services.adverse_event_review(adverse_event=events[1], user=admin_user, comment="Typical.",
                                  reviewer_relatedness="certain")
    voided = make_event(patient, term="Voided entry", grade=1, serious=False)
    AdverseEvent.objects.filter(pk=voided.pk).update(voided_at=timezone.now(), void_reason="duplicate")
    return events


@pytest.mark.parametrize(
    "params, terms",
    [
        ({}, ["Aseptic meningitis", "Headache", "=HYPERLINK(\"x\")", "Thrombosis"]),
        ({"grade": "4"}, ["Thrombosis"]),
        ({"serious": "1"}, ["Aseptic meningitis", "Thrombosis"]),
        ({"serious": "0"}, ["Headache", "=HYPERLINK(\"x\")"]),
        ({"relatedness": "probable"}, ["Headache", "Thrombosis"]),
        ({"outcome": "not_recovered"}, ["=HYPERLINK(\"x\")"]),
        ({"site": "SITE_B"}, ["=HYPERLINK(\"x\")", "Thrombosis"]),
        ({"serious": "1", "relatedness": "probable"}, ["Thrombosis"]),
        ({"grade": "9"}, ["Aseptic meningitis", "Headache", "=HYPERLINK(\"x\")", "Thrombosis"]),  # ignored
    ],
)
def test_listing_filters(client_for, coordinator, listing_events, site_b, params, terms):
    params = {k: (site_b.pk if v == "SITE_B" else v) for k, v in params.items()}
    client = client_for(coordinator)
    page = client.get(reverse("oversight:ae_listing"), params)
    assert page.status_code == 200
    assert sorted(ae.term for ae in page.context["adverse_events"]) == sorted(terms)
    export = client.get(reverse("oversight:ae_listing_export"), params)
    assert export.status_code == 200 and export["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(export.streaming_content).decode())))
    assert sorted(r["term"].lstrip("'") for r in rows) == sorted(terms)


def test_export_columns(client_for, monitor, listing_events, admin_user):
    response = client_for(monitor).get(reverse("oversight:ae_listing_export"), {"serious": "1"})
    assert 'filename="adverse-events-' in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    by_term = {r["term"]: r for r in rows}
    reviewed = by_term["Aseptic meningitis"]
    event = listing_events[1]
    event.refresh_from_db()
    assert reviewed == {
        "subject_id": "01-001", "site": "01", "term": "Aseptic meningitis", "onset_date": "2025-03-18",
        "end_date": "", "grade": "3", "serious": "yes",
        "seriousness_criteria": "requires or prolongs hospitalisation", "relatedness": "Possible",
        "reviewer_relatedness": "Certain", "action_taken": "Infusion interrupted",
        "outcome": "Recovering / resolving",
        "entered_at": event.created_at.astimezone(timezone.get_fixed_timezone(0)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "reviewed_at": event.reviewed_at.astimezone(timezone.get_fixed_timezone(0)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "reviewed_by": admin_user.username,
    }
    assert by_term["Thrombosis"]["reviewed_at"] == "" and by_term["Thrombosis"]["end_date"] == "2025-03-30"


def test_export_quotes_formulas(client_for, coordinator, listing_events):
    response = client_for(coordinator).get(reverse("oversight:ae_listing_export"), {"outcome": "not_recovered"})
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0]["term"] == "'=HYPERLINK(\"x\")"


def test_listing_is_scoped_for_clinicians(client_for, clinician_b, listing_events):
    client = client_for(clinician_b)
    page = client.get(reverse("oversight:ae_listing"))
    assert {ae.patient.subject_id for ae in page.context["adverse_events"]} == {"02-001"}
    rows = list(csv.DictReader(io.StringIO(b"".join(
        client.get(reverse("oversight:ae_listing_export")).streaming_content).decode())))
    assert {r["subject_id"] for r in rows} == {"02-001"}


def test_listing_paginates_with_the_filters(client_for, coordinator, patient):
    for i in range(51):
        make_event(patient, serious=False, grade=1, term=f"Headache {i}")
    make_event(patient, grade=3)
    client = client_for(coordinator)
    page = client.get(reverse("oversight:ae_listing"), {"serious": "0"})
    assert page.context["paginator"].count == 51 and len(page.context["adverse_events"]) == 50
    assert "?serious=0&amp;page=2" in page.content.decode()
    export = client.get(reverse("oversight:ae_listing_export"), {"serious": "0"})
    assert len(b"".join(export.streaming_content).decode().strip().split("\r\n")) == 52  # header + every row


# --- queries -----------------------------------------------------------------------

def _cohort(patient, n, reviewer):
    for i in range(n):
        event = entered_hours_ago(make_event(patient, term=f"SAE {i}"), 30 * (i % 2))
        if i % 3 == 1:
            services.adverse_event_acknowledge(adverse_event=event, user=reviewer)
        if i % 3 == 2:
            services.adverse_event_review(adverse_event=event, user=reviewer, comment="ok",
                                          reviewer_relatedness="possible")
        make_event(patient, serious=False, grade=1, term=f"Headache {i}")


@pytest.mark.parametrize("n", [3, 12])
def test_queue_runs_a_constant_number_of_queries(client_for, monitor, patient, n, django_assert_num_queries):
    _cohort(patient, n, monitor)
    client = client_for(monitor)
    # session, user, memberships, role permissions (one query, issue 12), SAE banner, the queue
    with django_assert_num_queries(6):
        response = client.get(reverse("oversight:ae_queue"))
    assert len(response.context["awaiting"]) + len(response.context["reviewed"]) == n


@pytest.mark.parametrize("n", [3, 12])
def test_listing_runs_a_constant_number_of_queries(client_for, monitor, patient, n, django_assert_num_queries):
    _cohort(patient, n, monitor)
    client = client_for(monitor)
    # session, user, memberships, role permissions, SAE banner, count, page, sites (filter)
    with django_assert_num_queries(8):
        response = client.get(reverse("oversight:ae_listing"))
    assert response.context["paginator"].count == 2 * n


@pytest.mark.parametrize("n", [3, 12])
def test_export_runs_a_constant_number_of_queries(client_for, monitor, patient, n, django_assert_num_queries):
    _cohort(patient, n, monitor)
    client = client_for(monitor)
    # session, user, memberships, role permissions, the rows
    with django_assert_num_queries(5):
        response = client.get(reverse("oversight:ae_listing_export"))
        body = b"".join(response.streaming_content)
    assert body.count(b"\r\n") == 2 * n + 1


@pytest.mark.parametrize("n", [1, 6])
def test_review_page_runs_a_constant_number_of_queries(client_for, monitor, admin_user, clinician, patient, n,
                                                        django_assert_num_queries):
    event = make_event(patient, outcome="not_recovered")
    for i in range(n):
        services.adverse_event_follow_up(adverse_event=event, user=clinician, follow_up_date=ONSET + timedelta(days=i),
                                         note=f"Day {i}", outcome="not_recovered")
        services.adverse_event_review(adverse_event=event, user=admin_user, comment=f"Review {i}",
                                      reviewer_relatedness="possible")
    client = client_for(monitor)
    # session, user, memberships, role permissions, event, reviews, follow-ups, SAE banner
    with django_assert_num_queries(8):
        response = client.get(url("ae_detail", event))
    assert len(response.context["reviews"]) == len(response.context["follow_ups"]) == n


# --- admin -------------------------------------------------------------------------

@pytest.mark.req("URS-PRO-002")
def test_reviews_and_follow_ups_are_read_only_in_the_admin(client_for, admin_user, clinician, patient):
    event = make_event(patient)
    services.adverse_event_acknowledge(adverse_event=event, user=admin_user)
    services.adverse_event_review(adverse_event=event, user=admin_user, comment="Typical.",
                                  reviewer_relatedness="possible")
    services.adverse_event_follow_up(adverse_event=event, user=clinician, follow_up_date=date(2025, 3, 20),
                                     note="Improving.", outcome="recovering")
    client = client_for(admin_user)
    for model in (AdverseEventReview, AdverseEventFollowUp):
        name = f"admin:safety_{model._meta.model_name}"
        obj = model.objects.first()
        assert client.get(reverse(f"{name}_changelist")).status_code == 200, model
        assert client.get(reverse(f"{name}_change", args=[obj.pk])).status_code == 200, model
        assert client.get(reverse(f"{name}_history", args=[obj.pk])).status_code == 200, model
        # Written by safety.services only (they also update the event): no add, change or delete.
        assert client.get(reverse(f"{name}_add")).status_code == 403, model
        assert client.get(reverse(f"{name}_delete", args=[obj.pk])).status_code == 403, model
        assert client.post(reverse(f"{name}_change", args=[obj.pk]), {}).status_code == 403, model
