from datetime import date

import pytest
from rest_framework.test import APIClient

from api.services import token_create

from tests.patients.factories import PatientFactory


@pytest.fixture
def api_for(db):
    """An API client authenticated with the user's token (as a program would be)."""

    def make(user):
        _, token = token_create(user=user)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        return client

    return make


@pytest.fixture
def patient(site_a):
    return PatientFactory(site=site_a, subject_id="01-001", consent_date=date(2025, 3, 1),
                          enrolment_date=date(2025, 3, 10))


def errors_of(response):
    """``{field: [(message, code)]}`` of an error response (the documented shape)."""
    body = response.json()
    assert set(body) == {"detail", "code", "errors"}, body
    return {field: [(e["message"], e["code"]) for e in items] for field, items in body["errors"].items()}


def codes_of(response):
    return {field: [code for _, code in items] for field, items in errors_of(response).items()}
