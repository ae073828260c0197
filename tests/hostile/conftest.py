from dataclasses import dataclass
from datetime import date

import pytest
from django.test import Client

from api.services import token_create
from review import services as review_services
from review.models import DataQuery
from safety.models import AdverseEvent
from tests.patients.factories import DiagnosisFactory, MalignancyFactory, PatientFactory
from tests.visits.factories import full_cycle


@dataclass
class World:
    site: object
    patient: object
    bare: object  # a patient without diagnosis, cycles or end-of-treatment assessment
    diagnosis: object
    malignancy: object
    cycle: object
    event: object  # serious, linked to cycle 1 day 1
    query: object
    users: dict


@pytest.fixture
def world(site_a, clinician, investigator, monitor, admin_user, coordinator):
    patient = PatientFactory(site=site_a, subject_id="01-001", consent_date=date(2025, 3, 1),
                             enrolment_date=date(2025, 3, 10))
    bare = PatientFactory(site=site_a, subject_id="01-002", consent_date=date(2025, 3, 1),
                          enrolment_date=date(2025, 3, 10))
    diagnosis = DiagnosisFactory(patient=patient)
    malignancy = MalignancyFactory(patient=patient)
    cycle = full_cycle(patient, number=1)
    event = AdverseEvent.objects.create(
        patient=patient, infusion=cycle.infusions.get(day=1), term="Headache", description="After day 1",
        onset_date=date(2025, 3, 17), grade=3, serious=True, serious_hospitalisation=True,
        relatedness="possible", action_taken="none", outcome="recovering")
    query = review_services.query_raise(
        record=cycle, field_name="weight_kg", field_label="Weight", record_label="Cycle 1 visit",
        question="Please check the weight.", user=monitor, cycle_number=1)
    assert DataQuery.objects.count() == 1
    users = {"clinician": clinician, "investigator": investigator, "monitor": monitor, "admin": admin_user,
             "coordinator": coordinator}
    return World(site=site_a, patient=patient, bare=bare, diagnosis=diagnosis, malignancy=malignancy,
                 cycle=cycle, event=event, query=query, users=users)


@pytest.fixture
def browser(world):
    """One logged-in test client per role, all logged in up front: a login inside an
    example's rolled-back savepoint would be rolled back with it."""
    clients = {}
    for role, user in world.users.items():
        clients[role] = Client()
        clients[role].force_login(user)
    return clients.__getitem__


@pytest.fixture
def api(world):
    from rest_framework.test import APIClient

    clients = {}

    def get(role):
        if role not in clients:
            _, token = token_create(user=world.users[role])
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
            clients[role] = client
        return clients[role]

    return get
