"""Authentication: tokens and sessions; the token page."""

import pytest
from django.urls import reverse
from knox.models import AuthToken
from rest_framework.test import APIClient

from api.services import token_create
from oversight.models import AccessEvent, AccessKind

from tests.api.conftest import errors_of

pytestmark = pytest.mark.django_db

PATIENTS = "/api/v1/patients/"


@pytest.mark.req("URS-ACC-001")
def test_anonymous_gets_401_json_not_a_login_redirect(patient):
    response = APIClient().get(PATIENTS)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json()["code"] == "not_authenticated"
    assert errors_of(response) == {}
    assert APIClient().get(f"{PATIENTS}{patient.pk}/").status_code == 401
    assert APIClient().post(PATIENTS, {}, format="json").status_code == 401


@pytest.mark.req("URS-DEV-001")
def test_token_authenticates(api_for, clinician, patient):
    response = api_for(clinician).get(PATIENTS)
    assert response.status_code == 200
    assert [p["subject_id"] for p in response.json()["results"]] == ["01-001"]


@pytest.mark.req("URS-DEV-001")
def test_a_wrong_or_revoked_token_is_401(api_for, clinician, patient):
    client = api_for(clinician)
    AuthToken.objects.filter(user=clinician).delete()
    assert client.get(PATIENTS).status_code == 401
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    assert client.get(PATIENTS).status_code == 401


def test_an_inactive_user_is_refused(api_for, clinician, patient):
    client = api_for(clinician)
    clinician.is_active = False
    clinician.save()
    assert client.get(PATIENTS).status_code == 401


@pytest.mark.req("URS-DEV-002")
def test_session_reads_and_session_writes_need_csrf(clinician, patient):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(clinician)
    assert client.get(PATIENTS).status_code == 200
    response = client.patch(f"{PATIENTS}{patient.pk}/", {"sex": "M", "version": 1, "change_reason": "x"},
                            format="json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]


@pytest.mark.req("URS-ACC-003")
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


@pytest.mark.req("URS-DEV-001")
def test_create_show_once_list_and_revoke_tokens(client_for, clinician, patient):
    client = client_for(clinician)
    url = reverse("api:token")
    page = client.get(url)
    assert page.status_code == 200
    assert b"You have no token." in page.content
    assert b'name="csrfmiddlewaretoken"' in page.content

    created = client.post(url, {"action": "create"})
    assert created.status_code == 200
    key = created.context["new_token"]
    assert len(key) == 64 and key.encode() in created.content
    assert "no-store" in created["Cache-Control"]
    listed = client.get(url).content
    assert key.encode() not in listed  # shown once only
    assert key[:8].encode() in listed  # listed by its first characters

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.get(PATIENTS).status_code == 200

    second = client.post(url, {"action": "create"}).context["new_token"]  # one per program
    assert AuthToken.objects.filter(user=clinician).count() == 2
    assert api.get(PATIENTS).status_code == 200

    response = client.post(url, {"action": "revoke", "token": key[:15]})
    assert response.status_code == 302
    assert api.get(PATIENTS).status_code == 401
    api.credentials(HTTP_AUTHORIZATION=f"Token {second}")
    assert api.get(PATIENTS).status_code == 200
    client.post(url, {"action": "revoke_all"})
    assert not AuthToken.objects.filter(user=clinician).exists()
    assert api.get(PATIENTS).status_code == 401

    kinds = list(AccessEvent.objects.filter(user=clinician, kind__startswith="token").order_by("pk")
                 .values_list("kind", flat=True))
    assert kinds == [AccessKind.TOKEN_CREATED] * 2 + [AccessKind.TOKEN_REVOKED] * 2


@pytest.mark.req("URS-CRD-003")
def test_token_secret_is_never_stored_in_clear(clinician):
    """Issue 12: the database keeps a digest and the first characters, never the token."""
    instance, token = token_create(user=clinician)
    row = AuthToken.objects.filter(pk=instance.pk).values().get()
    assert token not in {str(v) for v in row.values()}
    assert not any(token in str(v) for v in row.values())
    assert row["token_key"] == token[:15] and row["digest"] != token
    from django.db import connection

    with connection.cursor() as cursor:  # nowhere in the access events either
        cursor.execute("SELECT detail FROM oversight_accessevent")
        assert not any(token in str(r[0]) for r in cursor.fetchall())


@pytest.mark.req("URS-CRD-004")
def test_a_revoked_users_tokens_all_stop_working(api_for, clinician, admin_user, patient):
    from api.services import tokens_revoke_all

    first, second = api_for(clinician), api_for(clinician)
    assert tokens_revoke_all(user=clinician, by=admin_user, reason="account locked") == 2
    assert first.get(PATIENTS).status_code == 401 and second.get(PATIENTS).status_code == 401


@pytest.mark.req("URS-DEV-001")
def test_another_users_token_cannot_be_created(rf, clinician, admin_user):
    request = rf.post("/")
    request.user = admin_user
    with pytest.raises(PermissionError):
        token_create(user=clinician, request=request)
    assert not AuthToken.objects.exists()


def test_token_page_refuses_users_without_a_role(client_for):
    from tests.accounts.factories import UserFactory

    response = client_for(UserFactory(username="nobody")).post(reverse("api:token"), {"action": "create"})
    assert response.status_code == 403
    assert not AuthToken.objects.exists()


def test_a_superuser_without_a_role_gets_no_token(client_for, superuser):
    response = client_for(superuser).post(reverse("api:token"), {"action": "create"})
    assert response.status_code == 403
    assert not AuthToken.objects.exists()


@pytest.mark.req("URS-DEV-001", "URS-CRD-004")
def test_admin_lists_and_revokes_tokens_but_sees_no_secret_and_creates_none(client_for, admin_user, clinician,
                                                                          patient):
    """Issue 12: the Django admin lists tokens by owner and first characters,
    shows no secret or digest, cannot add or change one, and its revocation is
    an access event."""
    instance, token = token_create(user=clinician)
    admin = client_for(admin_user)
    changelist = admin.get(reverse("admin:knox_authtoken_changelist"))
    assert changelist.status_code == 200
    assert b"clinician-01" in changelist.content and token[:8].encode() in changelist.content
    assert token.encode() not in changelist.content and token[:15].encode() not in changelist.content
    detail = admin.get(reverse("admin:knox_authtoken_change", args=[instance.pk]))
    assert detail.status_code == 200 and token[:15].encode() not in detail.content
    assert admin.get(reverse("admin:knox_authtoken_add")).status_code == 403
    assert admin.post(reverse("admin:knox_authtoken_add"), {"user": clinician.pk}).status_code == 403
    assert AuthToken.objects.count() == 1

    response = admin.post(reverse("admin:knox_authtoken_changelist"),
                          {"action": "delete_selected", "_selected_action": [instance.pk], "post": "yes"})
    assert response.status_code == 302
    assert not AuthToken.objects.exists()
    event = AccessEvent.objects.get(kind=AccessKind.TOKEN_REVOKED)
    assert event.user == clinician and event.detail["by"] == admin_user.username
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert api.get(PATIENTS).status_code == 401
