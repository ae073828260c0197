import pytest
from django.urls import reverse

from tests.accounts.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_login_page_renders(client):
    response = client.get(reverse("accounts:login"))
    assert response.status_code == 200
    assert b'name="username"' in response.content


@pytest.mark.req("URS-ACC-001")
def test_login_and_logout(client, site_a):
    user = UserFactory(username="nurse")
    MembershipFactory(user=user, role="clinician", site=site_a)
    response = client.post(reverse("accounts:login"),
                           {"username": "nurse", "password": "correct horse battery"})
    assert response.status_code == 302
    assert client.get(reverse("patients:patient_list")).status_code == 200
    response = client.post(reverse("accounts:logout"))
    assert response.status_code == 302
    assert client.get(reverse("patients:patient_list")).status_code == 302


def test_wrong_password_is_refused(client, site_a):
    UserFactory(username="nurse")
    response = client.post(reverse("accounts:login"), {"username": "nurse", "password": "wrong"})
    assert response.status_code == 200
    assert response.context["form"].non_field_errors()


def test_home_redirects_to_the_dashboard(client_for, clinician):
    response = client_for(clinician).get("/")
    assert response.status_code == 302
    assert response["Location"] == reverse("oversight:dashboard")


def test_navigation_shows_role(client_for, clinician):
    response = client_for(clinician).get(reverse("patients:patient_list"))
    assert "Clinician" in response.content.decode()
