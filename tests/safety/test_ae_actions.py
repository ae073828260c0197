"""Issue 14, item 6: the adverse event's own page (its edit page and the AE list) offers
a follow-up to the roles that may add one, and a void button to the roles that may void,
never on a voided, resolved (follow-up) or locked record; the follow-up goes through the
existing service."""

from datetime import date

import pytest
from django.urls import reverse
from django.utils import timezone

from patients.models import Patient
from safety.models import AdverseEvent, AdverseEventFollowUp
from tests.oversight.test_ae_review import make_event
from tests.patients.factories import MalignancyFactory, PatientFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def patient(site_a):
    return PatientFactory(site=site_a, subject_id="01-001")


def follow_up_url(event):
    return reverse("safety:ae_follow_up", args=[event.patient_id, event.pk])


def void_url(event):
    return reverse("safety:ae_void", args=[event.patient_id, event.pk])


def post(**overrides):
    data = {"follow_up_date": "2025-03-25", "note": "Headache settling; discharged home.", "outcome": "recovering"}
    data.update(overrides)
    return data


def test_a_clinician_adds_a_follow_up_from_the_event_page(client_for, clinician, patient):
    event = make_event(patient, outcome="not_recovered")
    client = client_for(clinician)
    edit = client.get(event.get_absolute_url()).content.decode()
    assert f'href="{follow_up_url(event)}"' in edit and f'href="{void_url(event)}"' in edit
    assert f'href="{follow_up_url(event)}"' in client.get(reverse("safety:ae_list")).content.decode()

    assert client.get(follow_up_url(event)).status_code == 200
    bad = client.post(follow_up_url(event), post(follow_up_date=""))
    assert bad.status_code == 200 and "follow_up_date" in bad.context["form"].errors
    assert not AdverseEventFollowUp.objects.exists()

    response = client.post(follow_up_url(event), post())
    assert response.status_code == 302 and response["Location"] == event.get_absolute_url()
    follow_up = AdverseEventFollowUp.objects.get()
    assert (follow_up.entered_by, follow_up.history.get().history_user) == (clinician, clinician)
    event.refresh_from_db()
    assert event.outcome == "recovering"  # the service carried the outcome to the event
    assert event.history.latest().history_change_reason == "Follow-up of 2025-03-25: Headache settling; discharged home."
    assert "Headache settling" in client.get(event.get_absolute_url()).content.decode()

    # Resolved: the button goes, and the page refuses.
    client.post(follow_up_url(event), post(follow_up_date="2025-04-01", outcome="recovered", end_date="2025-03-29"))
    assert f'href="{follow_up_url(event)}"' not in client.get(event.get_absolute_url()).content.decode()
    assert client.get(follow_up_url(event)).status_code == 403
    assert AdverseEventFollowUp.objects.count() == 2


@pytest.mark.parametrize("role, follow_up, void", [
    ("clinician", True, True), ("investigator", True, True), ("admin_user", True, True),
    ("monitor", False, False), ("coordinator", False, False),
])
def test_the_buttons_follow_the_role(request, client_for, patient, role, follow_up, void):
    event = make_event(patient)
    user = request.getfixturevalue(role)
    page = client_for(user).get(reverse("safety:ae_list")).content.decode()
    assert (f'href="{follow_up_url(event)}"' in page, f'href="{void_url(event)}"' in page) == (follow_up, void)
    assert client_for(user).get(follow_up_url(event)).status_code == (200 if follow_up else 403)


def test_another_sites_clinician_gets_neither(client_for, clinician_b, patient):
    event = make_event(patient)
    assert client_for(clinician_b).get(follow_up_url(event)).status_code == 404


def test_no_button_on_a_locked_casebook(client_for, clinician, patient):
    event = make_event(patient)
    Patient.objects.filter(pk=patient.pk).update(locked_at=timezone.now())
    client = client_for(clinician)
    page = client.get(reverse("safety:ae_list")).content.decode()
    assert f'href="{follow_up_url(event)}"' not in page and f'href="{void_url(event)}"' not in page
    assert client.get(follow_up_url(event)).status_code == 403
    # Review of issue 14: the void page used to open under the lock (the service refused on save).
    assert client.get(void_url(event)).status_code == 403
    assert client.post(void_url(event), {"void_reason": "Entered in error",
                                         "expected_version": event.version}).status_code == 403
    event.refresh_from_db()
    assert event.voided_at is None


def test_a_voided_event_has_no_void_page(client_for, clinician, patient):
    event = make_event(patient)
    client = client_for(clinician)
    client.post(void_url(event), {"void_reason": "Entered in error", "expected_version": event.version})
    assert client.get(void_url(event)).status_code == 403


def test_voiding_from_the_button(client_for, clinician, patient):
    event = make_event(patient)
    client = client_for(clinician)
    response = client.post(void_url(event), {"void_reason": "Entered for the wrong patient",
                                             "expected_version": event.version})
    assert response.status_code == 302
    event.refresh_from_db()
    assert event.voided_at is not None
    assert event not in client.get(reverse("safety:ae_list")).context["adverse_events"]


def test_the_malignancy_void_link_is_for_the_roles_that_may_void(client_for, clinician, monitor, patient):
    malignancy = MalignancyFactory(patient=patient, diagnosis_date=date(2025, 4, 1))
    link = f'href="{reverse("patients:malignancy_void", args=[patient.pk, malignancy.pk])}"'
    detail = reverse("patients:patient_detail", args=[patient.pk])
    assert link in client_for(clinician).get(detail).content.decode()
    assert link not in client_for(monitor).get(detail).content.decode()
    Patient.objects.filter(pk=patient.pk).update(locked_at=timezone.now())
    assert link not in client_for(clinician).get(detail).content.decode()  # never under a lock


def test_the_ae_list_runs_a_constant_number_of_queries(client_for, clinician, site_a):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = client_for(clinician)
    counts = []
    for n in (1, 6):
        for i in range(n):
            make_event(PatientFactory(site=site_a), serious=False)
        client.get(reverse("safety:ae_list"))
        with CaptureQueriesContext(connection) as captured:
            client.get(reverse("safety:ae_list"))
        counts.append(len(captured))
    assert counts[0] == counts[1] and AdverseEvent.objects.count() == 7
