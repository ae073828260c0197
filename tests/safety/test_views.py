from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from safety import rules
from safety.models import AdverseEvent
from tests.patients.factories import PatientFactory
from tests.visits.factories import full_cycle

pytestmark = pytest.mark.django_db


@pytest.fixture
def patient(site_a):
    return PatientFactory(site=site_a, subject_id="01-001")


def ae_post(**overrides):
    data = {"term": "Infusion-related reaction", "onset_date": "2025-03-18", "grade": "3",
            "relatedness": "probable", "action_taken": "interrupted", "outcome": "recovered",
            "end_date": "2025-03-20"}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


@pytest.mark.req("URS-DOC-001", "URS-PRT-011")
def test_serious_event_reaches_the_monitor(client_for, clinician, monitor, patient):
    cycle = full_cycle(patient)
    day2 = cycle.infusions.get(day=2)
    client = client_for(clinician)
    url = reverse("safety:ae_create", args=[patient.pk])
    assert client.get(url).status_code == 200
    response = client.post(url, ae_post(infusion=day2.pk, serious="on", serious_hospitalisation="on"))
    assert response.status_code == 302
    event = AdverseEvent.objects.get()
    assert event.serious and event.infusion == day2
    # The awareness defaults to the entry; the clock runs 24 hours from it.
    assert event.aware_at == event.sae_entered_at
    assert abs(event.created_at - event.aware_at) < timedelta(seconds=5)
    assert event.review_due_at == event.report_due_at == event.aware_at + timedelta(hours=24)
    assert not event.reported_late and event.rules_version == rules.RULES_VERSION
    assert event.history.get().history_user == clinician
    # The clinician sees no banner; the monitor does, and the SAE list.
    assert "sae-banner" not in client.get(reverse("patients:patient_list")).content.decode()
    monitor_client = client_for(monitor)
    page = monitor_client.get(reverse("safety:ae_list"), {"serious": "1"})
    assert list(page.context["adverse_events"]) == [event]
    assert "1 serious adverse event" in page.content.decode()


@pytest.mark.req("URS-PRT-011")
def test_reviewed_event_leaves_the_banner(client_for, monitor, patient):
    full_cycle(patient)
    event = AdverseEvent.objects.create(patient=patient, term="Aseptic meningitis", onset_date=patient.enrolment_date,
                                        grade=3, serious=True, serious_hospitalisation=True,
                                        relatedness="possible", outcome="recovered")
    client = client_for(monitor)
    assert "sae-banner" in client.get(reverse("safety:ae_list")).content.decode()
    event.reviewed_at = timezone.now()
    event.save()
    assert "sae-banner" not in client.get(reverse("safety:ae_list")).content.decode()


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"serious": "on"}, "serious"),
        ({"grade": "5"}, "serious_death"),
        ({"end_date": "2025-03-17"}, "end_date"),
        ({"onset_date": "2025-03-01", "end_date": None}, "onset_date"),
        ({"grade": "6"}, "grade"),
        ({"term": ""}, "term"),
    ],
)
def test_bad_input_gets_a_field_error(client_for, clinician, patient, overrides, field):
    response = client_for(clinician).post(reverse("safety:ae_create", args=[patient.pk]), ae_post(**overrides))
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert not AdverseEvent.objects.exists()


@pytest.mark.req("URS-PRO-008")
def test_infusion_of_another_patient_is_refused(client_for, clinician, patient, site_a):
    other = PatientFactory(site=site_a, subject_id="01-002")
    foreign = full_cycle(other).infusions.get(day=1)
    response = client_for(clinician).post(reverse("safety:ae_create", args=[patient.pk]),
                                          ae_post(infusion=foreign.pk))
    assert "infusion" in response.context["form"].errors
    assert not AdverseEvent.objects.exists()


@pytest.mark.req("URS-PRO-001")
def test_edit_needs_reason_and_void_keeps_the_row(client_for, clinician, patient):
    client = client_for(clinician)
    client.post(reverse("safety:ae_create", args=[patient.pk]), ae_post())
    event = AdverseEvent.objects.get()
    url = reverse("safety:ae_update", args=[patient.pk, event.pk])
    response = client.post(url, ae_post(grade="2", expected_version=event.version))
    assert "change_reason" in response.context["form"].errors
    assert client.post(url, ae_post(grade="2", expected_version=event.version,
                                    change_reason="Regraded after review")).status_code == 302
    event.refresh_from_db()
    assert event.grade == 2 and event.history.latest().history_change_reason == "Regraded after review"
    void = reverse("safety:ae_void", args=[patient.pk, event.pk])
    assert client.post(void, {"void_reason": "Duplicate entry", "expected_version": event.version}).status_code == 302
    event.refresh_from_db()
    assert event.voided_at and AdverseEvent.objects.count() == 1
    assert client.get(reverse("safety:ae_list")).context["paginator"].count == 0


def test_ae_list_is_scoped_and_filtered(client_for, clinician_b, coordinator, patient, site_b):
    other = PatientFactory(site=site_b, subject_id="02-001")
    for p, grade in ((patient, 1), (other, 3)):
        AdverseEvent.objects.create(patient=p, term="Headache", onset_date=p.enrolment_date, grade=grade,
                                    relatedness="possible", outcome="recovered")
    assert [e.patient for e in client_for(clinician_b).get(reverse("safety:ae_list")).context["adverse_events"]] == [other]
    client = client_for(coordinator)
    assert client.get(reverse("safety:ae_list")).context["paginator"].count == 2
    assert client.get(reverse("safety:ae_list"), {"grade": "3"}).context["paginator"].count == 1
    assert client.get(reverse("safety:ae_list"), {"site": site_b.pk}).context["paginator"].count == 1
    assert client.get(reverse("safety:ae_create", args=[patient.pk])).status_code == 403
    assert client_for(clinician_b).get(reverse("safety:ae_create", args=[patient.pk])).status_code == 404


@pytest.mark.parametrize("n", [1, 20])
def test_ae_list_runs_a_constant_number_of_queries(client_for, monitor, patient, n, django_assert_num_queries):
    for i in range(n):
        AdverseEvent.objects.create(patient=patient, term=f"Headache {i}", onset_date=patient.enrolment_date,
                                    grade=1, relatedness="possible", outcome="recovered")
    client = client_for(monitor)
    # session, user, memberships, role permissions (one query, issue 12), SAE banner, sites, count, page
    with django_assert_num_queries(8):
        client.get(reverse("safety:ae_list"))
