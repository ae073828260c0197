import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError

from accounts.models import Membership
from accounts.scoping import access_for, scope_to_user_sites, sites_for_data_entry
from patients.models import Patient
from tests.accounts.factories import MembershipFactory, UserFactory
from tests.patients.factories import PatientFactory

pytestmark = pytest.mark.django_db

EXPECTED = {
    "clinician": {"view", "add", "change"},
    "investigator": {"view", "add", "change"},
    "coordinator": {"view"},
    "monitor": {"view"},
    "admin": {"view", "add", "change"},
}


@pytest.mark.parametrize("role", sorted(EXPECTED))
def test_role_groups_hold_the_patients_permissions(role):
    group = Group.objects.get(name=role)
    for model in ("patient", "diagnosis", "malignancyhistory"):
        actions = {c.split("_", 1)[0] for c in group.permissions.filter(
            content_type__app_label="patients", content_type__model=model).values_list("codename", flat=True)}
        assert actions == EXPECTED[role], (role, model)


@pytest.mark.req("URS-PRO-001")
def test_no_role_may_delete_a_clinical_record():
    assert not Group.objects.filter(permissions__codename__startswith="delete_",
                                    permissions__content_type__app_label="patients").exists()


def test_permissions_come_from_the_membership_role(site_a):
    user = UserFactory(username="c")
    assert not user.has_perm("patients.change_patient")
    MembershipFactory(user=user, role="coordinator", site=None)
    user = type(user).objects.get(pk=user.pk)
    assert user.has_perm("patients.view_patient")
    assert not user.has_perm("patients.change_patient")


def test_membership_site_rules(site_a):
    user = UserFactory(username="u")
    with pytest.raises(ValidationError) as exc:
        Membership(user=user, role="clinician", site=None).full_clean()
    assert exc.value.error_dict["site"][0].code == "site_required"
    with pytest.raises(ValidationError) as exc:
        Membership(user=user, role="monitor", site=site_a).full_clean()
    assert exc.value.error_dict["site"][0].code == "site_not_allowed"


def test_scoping(site_a, site_b, clinician, coordinator, admin_user):
    a = PatientFactory(site=site_a, subject_id="01-001")
    PatientFactory(site=site_b, subject_id="02-001")
    assert list(scope_to_user_sites(Patient.objects.all(), clinician)) == [a]
    assert scope_to_user_sites(Patient.objects.all(), coordinator).count() == 2
    assert scope_to_user_sites(Patient.objects.all(), admin_user).count() == 2
    assert list(sites_for_data_entry(clinician)) == [site_a]
    assert list(sites_for_data_entry(coordinator)) == []
    assert set(sites_for_data_entry(admin_user)) == {site_a, site_b}
    assert access_for(clinician).time_zone == "Europe/Paris"
    assert access_for(coordinator).study_wide


def test_clinician_at_two_sites_sees_both(site_a, site_b):
    user = UserFactory(username="two")
    MembershipFactory(user=user, role="clinician", site=site_a)
    MembershipFactory(user=user, role="clinician", site=site_b)
    PatientFactory(site=site_a, subject_id="01-001")
    PatientFactory(site=site_b, subject_id="02-001")
    assert scope_to_user_sites(Patient.objects.all(), user).count() == 2
    assert access_for(user).time_zone == ""  # several sites: the study's zone


@pytest.mark.req("URS-ACC-003")
def test_inactive_user_has_no_access(site_a, clinician):
    clinician.is_active = False
    assert not access_for(clinician).roles


@pytest.mark.req("URS-AUD-007")
def test_times_are_shown_in_the_site_zone(client_for, site_a, clinician):
    site_a.time_zone = "America/New_York"
    site_a.save()
    patient = PatientFactory(site=site_a)
    response = client_for(clinician).get(patient.get_absolute_url())
    assert "Times are America/New_York (E" in response.content.decode()


@pytest.mark.req("URS-AUD-007")
def test_study_wide_users_see_the_study_zone(client_for, site_a, monitor, settings):
    site_a.time_zone = "America/New_York"
    site_a.save()
    patient = PatientFactory(site=site_a)
    response = client_for(monitor).get(patient.get_absolute_url())
    assert f"Times are {settings.TIME_ZONE} (" in response.content.decode()
