"""Authentication: tokens and sessions; the token page."""

import pytest
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.api.conftest import errors_of

pytestmark = pytest.mark.django_db

PATIENTS = "/api/v1/patients/"


def test_anonymous_gets_401_json_not_a_login_redirect(patient):
    response = APIClient().get(PATIENTS)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json()["code"] == "not_authenticated"
    assert errors_of(response) == {}
    assert APIClient().get(f"{PATIENTS}{patient.pk}/").status_code == 401
    assert APIClient().post(PATIENTS, {}, format="json").status_code == 401


def test_token_authenticates(api_for, clinician, patient):
    response = api_for(clinician).get(PATIENTS)
    assert response.status_code == 200
    assert [p["subject_id"] for p in response.json()["results"]] == ["01-001"]


def test_a_wrong_or_revoked_token_is_401(api_for, clinician, patient):
    client = api_for(clinician)
    Token.objects.filter(user=clinician).delete()
    assert client.get(PATIENTS).status_code == 401
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    assert client.get(PATIENTS).status_code == 401


def test_an_inactive_user_is_refused(api_for, clinician, patient):
    client = api_for(clinician)
    clinician.is_active = False
    clinician.save()
    assert client.get(PATIENTS).status_code == 401


def test_session_reads_and_session_writes_need_csrf(clinician, patient):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(clinician)
    assert client.get(PATIENTS).status_code == 200
    response = client.patch(f"{PATIENTS}{patient.pk}/", {"sex": "M", "version": 1, "change_reason": "x"},
                            format="json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]


def test_user_without_a_role_sees_nothing(api_for, patient):
    from tests.accounts.factories import UserFactory

    nobody = UserFactory(username="nobody")
    client = api_for(nobody)
    assert client.get(PATIENTS).status_code == 403


# --- The token page ------------------------------------------------------------

def test_token_page_needs_login(client):
    response = client.get(reverse("api:token"))
    assert response.status_code == 302
    assert reverse("accounts:login") in response["Location"]


def test_create_show_once_replace_and_revoke_a_token(client_for, clinician, patient):
    client = client_for(clinician)
    url = reverse("api:token")
    page = client.get(url)
    assert page.status_code == 200
    assert b"You have no token." in page.content
    assert b'name="csrfmiddlewaretoken"' in page.content

    created = client.post(url, {"action": "create"})
    assert created.status_code == 200
    key = Token.objects.get(user=clinician).key
    assert key.encode() in created.content
    assert "no-store" in created["Cache-Control"]
    assert key.encode() not in client.get(url).content  # shown once only

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.get(PATIENTS).status_code == 200

    client.post(url, {"action": "create"})  # replacing revokes the old key
    assert Token.objects.filter(user=clinician).count() == 1
    assert api.get(PATIENTS).status_code == 401

    response = client.post(url, {"action": "revoke"})
    assert response.status_code == 302
    assert not Token.objects.filter(user=clinician).exists()


def test_token_page_refuses_users_without_a_role(client_for):
    from tests.accounts.factories import UserFactory

    response = client_for(UserFactory(username="nobody")).post(reverse("api:token"), {"action": "create"})
    assert response.status_code == 403
    assert not Token.objects.exists()


def test_admin_manages_tokens(client_for, admin_user, clinician):
    Token.objects.create(user=clinician)
    response = client_for(admin_user).get(reverse("admin:authtoken_tokenproxy_changelist"))
    assert response.status_code == 200
    assert b"clinician-01" in response.content
