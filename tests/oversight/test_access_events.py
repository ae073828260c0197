import pytest
from django.contrib import admin
from django.urls import reverse

from oversight.models import AccessEvent, AccessKind
from tests.accounts.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"


@pytest.mark.req("URS-AUD-005")
def test_a_login_through_the_form_is_recorded_with_address_and_agent(client):
    user = UserFactory(username="nurse")
    response = client.post(reverse("accounts:login"), {"username": "nurse", "password": PASSWORD},
                           REMOTE_ADDR="192.0.2.7", HTTP_USER_AGENT="Mozilla/5.0 " + "x" * 400)
    assert response.status_code == 302
    event = AccessEvent.objects.get()
    assert (event.kind, event.user, event.username, event.ip_address) == (
        AccessKind.LOGIN, user, "nurse", "192.0.2.7")
    assert len(event.user_agent) == 255 and event.user_agent.startswith("Mozilla/5.0 ")


@pytest.mark.req("URS-AUD-005")
def test_a_failed_login_keeps_the_name_typed_never_the_password(client):
    user = UserFactory(username="nurse")
    client.post(reverse("accounts:login"), {"username": "nurse", "password": "guess-1"})
    client.post(reverse("accounts:login"), {"username": "nobody", "password": "guess-2"})
    known, unknown = AccessEvent.objects.order_by("pk")
    assert (known.kind, known.user, known.username) == (AccessKind.LOGIN_FAILED, user, "nurse")
    assert (unknown.kind, unknown.user, unknown.username) == (AccessKind.LOGIN_FAILED, None, "nobody")
    stored = str(list(AccessEvent.objects.values()))
    assert "guess" not in stored and "*****" not in stored


@pytest.mark.req("URS-AUD-005")
def test_a_logout_is_recorded(client):
    user = UserFactory(username="nurse")
    client.force_login(user)
    client.post(reverse("accounts:logout"))
    assert list(AccessEvent.objects.order_by("pk").values_list("kind", "user")) == [
        (AccessKind.LOGIN, user.pk), (AccessKind.LOGOUT, user.pk)]


@pytest.mark.req("URS-DEV-002")
def test_a_bad_remote_address_is_not_stored(rf):
    request = rf.get("/", REMOTE_ADDR="not-an-address")
    event = AccessEvent.objects.record(kind=AccessKind.LOGIN, request=request, username="x")
    assert event.ip_address is None


@pytest.mark.req("URS-AUD-005")
def test_the_access_event_admin_is_read_only(client_for, admin_user):
    event = AccessEvent.objects.record(kind=AccessKind.LOGIN_FAILED, username="nobody")
    client = client_for(admin_user)
    assert client.get(reverse("admin:oversight_accessevent_changelist")).status_code == 200
    assert client.get(reverse("admin:oversight_accessevent_add")).status_code == 403
    assert client.get(reverse("admin:oversight_accessevent_delete", args=[event.pk])).status_code == 403
    change = client.get(reverse("admin:oversight_accessevent_change", args=[event.pk]))
    assert change.status_code == 200 and b'name="_save"' not in change.content  # view only
    response = client.post(reverse("admin:oversight_accessevent_change", args=[event.pk]),
                           {"username": "somebody", "kind": "login"})
    assert response.status_code == 403
    model_admin = admin.site._registry[AccessEvent]
    request = type("R", (), {"user": admin_user})()
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request, event)
    assert not model_admin.has_delete_permission(request, event)
    assert AccessEvent.objects.get(pk=event.pk).username == "nobody"


@pytest.mark.req("URS-DEV-002")
def test_forwarded_for_is_used_only_when_trusted(rf, settings):
    from oversight.models import _client_ip

    request = rf.get("/", REMOTE_ADDR="172.18.0.5", HTTP_X_FORWARDED_FOR="6.6.6.6, 198.51.100.9")
    assert _client_ip(request) == "172.18.0.5"
    settings.TRUST_X_FORWARDED_FOR = True
    assert _client_ip(request) == "198.51.100.9"  # the address the proxy appended
    assert _client_ip(rf.get("/", REMOTE_ADDR="172.18.0.5")) == "172.18.0.5"
