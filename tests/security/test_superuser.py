"""Issue 12, finding 3: the superuser is above no rule.

Roles hold for everyone: a study act (signing, answering or closing a data
query, SDV, reviewing an adverse event, entering data) needs the role that does
it, at the patient's site, whatever ``is_superuser`` says; the administrator is
a staff user with the admin role's explicit permissions; a superuser's login
is an access event of its own kind.
"""

from datetime import date

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.scoping import may
from api.services import token_create
from core.services import record_save
from oversight.models import AccessEvent, AccessKind
from review import services as review_services
from review.models import DataQuery, Signature, SourceVerification
from safety import services as safety_services
from safety.models import AdverseEvent, AdverseEventReview
from tests.patients.factories import PatientFactory
from tests.visits.factories import full_cycle

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery"  # tests.accounts.factories.UserFactory


@pytest.fixture
def patient(site_a):
    return PatientFactory(site=site_a, subject_id="01-001")


@pytest.fixture
def cycle(patient):
    return full_cycle(patient)


@pytest.fixture
def super_admin(admin_user):
    """The old demo ``admin``: the admin role *and* ``is_superuser``."""
    admin_user.is_superuser = True
    admin_user.save()
    return admin_user


@pytest.fixture
def query(patient, monitor):
    return review_services.query_raise(record=patient, field_name="", field_label="", record_label="01-001",
                                question="Check the consent date.", user=monitor)


def _api(user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_create(user=user)[1]}")
    return client


# --- signing -----------------------------------------------------------------------------------

@pytest.mark.req("URS-SIG-005")
def test_a_superuser_admin_cannot_sign_on_the_page(client_for, super_admin, cycle, patient):
    client = client_for(super_admin)
    for url in (reverse("oversight:cycle_sign", args=[cycle.pk]), reverse("oversight:casebook_sign", args=[patient.pk])):
        response = client.post(url, {"password": PASSWORD})
        assert response.status_code == 403, url
        assert "Only an investigator of the patient&#x27;s site signs" in response.content.decode()
    timeline = client.get(reverse("visits:timeline", args=[patient.pk]))
    assert timeline.context["can_sign"] is False
    assert not Signature.objects.exists()


@pytest.mark.parametrize("who", ["superuser", "super_admin"])
@pytest.mark.req("URS-AUT-002")
def test_the_signing_service_refuses_a_superuser_without_the_investigator_role(request, rf, who, cycle, patient):
    user = request.getfixturevalue(who)
    for record in (cycle, patient):
        with pytest.raises(PermissionDenied, match="investigator"):
            review_services.record_sign(record=record, user=user, password=PASSWORD, request=rf.post("/"))
    assert not Signature.objects.exists()


@pytest.mark.req("URS-SIG-005")
def test_a_superuser_without_a_role_cannot_sign(client_for, superuser, cycle):
    assert client_for(superuser).post(reverse("oversight:cycle_sign", args=[cycle.pk]),
                                      {"password": PASSWORD}).status_code == 403
    assert not Signature.objects.exists()


@pytest.mark.req("URS-AUT-002")
def test_an_investigator_signs_only_at_their_investigator_site(client_for, rf, make_user, site_a, site_b, cycle):
    """Investigator at site 02, clinician at site 01: the patient of site 01 is
    readable (clinician) but not signable there."""
    user = make_user("investigator", site_b, username="inv-b-clin-a")
    from tests.accounts.factories import MembershipFactory
    MembershipFactory(user=user, role="clinician", site=site_a)
    response = client_for(user).post(reverse("oversight:cycle_sign", args=[cycle.pk]), {"password": PASSWORD})
    assert response.status_code == 403
    with pytest.raises(PermissionDenied):
        review_services.record_sign(record=cycle, user=user, password=PASSWORD, request=rf.post("/"))
    assert not Signature.objects.exists()
    assert may(user, "review.sign_record", site_id=site_b.pk) and not may(user, "review.sign_record", site_id=site_a.pk)


def test_the_investigator_still_signs(rf, investigator, cycle):
    signature = review_services.record_sign(record=cycle, user=investigator, password=PASSWORD, request=rf.post("/"))
    assert signature.signer == investigator


# --- data queries ------------------------------------------------------------------------------

def test_a_superuser_admin_cannot_answer_a_query_on_the_page_the_api_or_the_service(client_for, super_admin, query):
    url = reverse("oversight:query_detail", args=[query.pk])
    page = client_for(super_admin).get(url)
    assert page.context["can_answer"] is False
    response = client_for(super_admin).post(url, {"action": "answer", "text": "Fine."})
    assert response.status_code == 403
    assert "site answer" in response.content.decode()
    response = _api(super_admin).post(f"/api/v1/data-queries/{query.pk}/answer/", {"text": "Fine."}, format="json")
    assert response.status_code == 403
    with pytest.raises(PermissionDenied):
        review_services.query_answer(query=query, user=super_admin, text="Fine.")
    query.refresh_from_db()
    assert query.status == "open" and query.messages.count() == 1


def test_a_role_less_superuser_can_neither_raise_close_nor_answer_in_the_services(superuser, patient, query, cycle):
    with pytest.raises(PermissionDenied):
        review_services.query_raise(record=patient, field_name="", field_label="", record_label="01-001",
                             question="?", user=superuser)
    for service in (review_services.query_answer, review_services.query_close, review_services.query_reopen):
        with pytest.raises(PermissionDenied):
            service(query=query, user=superuser, text="x")
    with pytest.raises(PermissionDenied):
        review_services.cycle_verify(cycle=cycle, user=superuser)
    assert DataQuery.objects.count() == 1 and not SourceVerification.objects.exists()


@pytest.mark.req("URS-AUT-003")
def test_the_site_answers_and_the_monitor_closes(clinician, monitor, query):
    review_services.query_answer(query=query, user=clinician, text="Corrected.")
    review_services.query_close(query=query, user=monitor)
    assert query.status == "closed"


# --- adverse-event review ----------------------------------------------------------------------

def _event_entered_by(user, patient):
    return record_save(user=user, instance=AdverseEvent(
        patient=patient, term="Headache", onset_date=date(2025, 3, 18), grade=3, relatedness="possible",
        outcome="recovering", serious=True, serious_hospitalisation=True))


@pytest.mark.parametrize("who", ["admin_user", "super_admin"])
@pytest.mark.req("URS-AUT-004")
def test_nobody_reviews_an_adverse_event_they_entered(request, who, patient, monitor):
    user = request.getfixturevalue(who)
    event = _event_entered_by(user, patient)
    with pytest.raises(ValidationError) as refused:
        safety_services.adverse_event_review(adverse_event=event, user=user, comment="Fine.",
                                             reviewer_relatedness="possible")
    assert refused.value.error_dict["__all__"][0].code == "own_entry"
    with pytest.raises(ValidationError):
        safety_services.adverse_event_acknowledge(adverse_event=event, user=user)
    assert not AdverseEventReview.objects.exists()
    safety_services.adverse_event_review(adverse_event=event, user=monitor, comment="Typical.",
                                         reviewer_relatedness="possible")  # somebody else does
    assert AdverseEventReview.objects.count() == 1


def test_the_review_page_shows_the_own_entry_refusal(client_for, admin_user, patient):
    event = _event_entered_by(admin_user, patient)
    response = client_for(admin_user).post(reverse("oversight:ae_review", args=[event.pk]), {
        "review-comment": "Fine.", "review-reviewer_relatedness": "possible",
        "review-agrees_with_seriousness": "true", "review-event_version": event.version})
    assert response.status_code == 200
    assert "You entered this adverse event" in response.content.decode()
    assert not AdverseEventReview.objects.exists()


@pytest.mark.req("URS-AUT-004")
def test_a_role_less_superuser_cannot_review(superuser, patient, clinician):
    event = _event_entered_by(clinician, patient)
    with pytest.raises(ValidationError) as refused:
        safety_services.adverse_event_review(adverse_event=event, user=superuser, comment="Fine.",
                                             reviewer_relatedness="possible")
    assert refused.value.error_dict["__all__"][0].code == "not_a_reviewer"


# --- the Django admin --------------------------------------------------------------------------

def test_a_role_less_superuser_cannot_enter_clinical_data_in_the_django_admin(client_for, superuser, patient):
    client = client_for(superuser)
    assert client.get(reverse("admin:patients_patient_changelist")).status_code == 403
    assert client.get(reverse("admin:patients_patient_add")).status_code == 403
    assert client.get(reverse("admin:patients_patient_change", args=[patient.pk])).status_code == 403


@pytest.mark.req("URS-AUT-005")
def test_the_admin_role_runs_the_django_admin_without_being_a_superuser(client_for, admin_user, clinician):
    assert not admin_user.is_superuser
    client = client_for(admin_user)
    for name in ("auth_user", "accounts_site", "accounts_membership", "oversight_accessevent", "knox_authtoken",
                 "patients_patient"):
        assert client.get(reverse(f"admin:{name}_changelist")).status_code == 200, name
    assert client.get(reverse("admin:auth_group_changelist")).status_code == 403  # roles are data migrations
    change = client.get(reverse("admin:auth_user_change", args=[clinician.pk]))
    assert change.status_code == 200
    fields = change.context["adminform"].form.fields
    assert not {"is_superuser", "groups", "user_permissions"} & set(fields)


@pytest.mark.req("URS-AUT-005")
def test_nobody_is_made_a_superuser_in_the_django_admin(client_for, admin_user, clinician):
    client = client_for(admin_user)
    response = client.post(reverse("admin:auth_user_change", args=[clinician.pk]), {
        "username": clinician.username, "first_name": "A", "last_name": "B", "email": "",
        "is_active": "on", "is_staff": "on", "is_superuser": "on",
        "memberships-TOTAL_FORMS": "0", "memberships-INITIAL_FORMS": "0",
        "memberships-MIN_NUM_FORMS": "0", "memberships-MAX_NUM_FORMS": "1000"})
    assert response.status_code in (200, 302)
    clinician.refresh_from_db()
    assert not clinician.is_superuser


# --- logins ------------------------------------------------------------------------------------

@pytest.mark.req("URS-ACC-003")
def test_a_superusers_login_is_an_access_event_of_its_own_kind(client, superuser, clinician):
    client.force_login(superuser)
    client.force_login(clinician)
    kinds = dict(AccessEvent.objects.values_list("username", "kind"))
    assert kinds == {superuser.username: AccessKind.SUPERUSER_LOGIN, clinician.username: AccessKind.LOGIN}


@pytest.mark.req("URS-AUT-005")
def test_an_administrator_cannot_give_themselves_a_role(client_for, admin_user, clinician, site_a):
    """Else an administrator could make themselves an investigator and sign."""
    from accounts.models import Membership

    client = client_for(admin_user)
    add = reverse("admin:accounts_membership_add")
    response = client.post(add, {"user": admin_user.pk, "role": "investigator", "site": site_a.pk})
    assert response.status_code == 200
    assert "Nobody changes their own roles" in response.content.decode()
    assert not Membership.objects.filter(user=admin_user, role="investigator").exists()
    own = Membership.objects.get(user=admin_user)
    assert client.get(reverse("admin:accounts_membership_change", args=[own.pk])).context["has_change_permission"] is False
    assert client.post(reverse("admin:accounts_membership_delete", args=[own.pk]), {"post": "yes"}).status_code == 403
    page = client.get(reverse("admin:auth_user_change", args=[admin_user.pk]))
    inline = page.context["inline_admin_formsets"][0]
    assert not (inline.has_add_permission or inline.has_change_permission or inline.has_delete_permission)

    response = client.post(add, {"user": clinician.pk, "role": "investigator", "site": site_a.pk})
    assert response.status_code == 302  # another user's roles: fine
    assert Membership.objects.filter(user=clinician, role="investigator").exists()


@pytest.mark.req("URS-AUT-005")
def test_the_templates_perms_come_from_the_roles(rf, superuser, monitor):
    """The navigation's ``perms`` answer through the roles: a superuser's menu is empty."""
    from accounts.context_processors import roles

    for user, expected in ((superuser, False), (monitor, True)):
        request = rf.get("/")
        request.user = user
        perms = roles(request)["perms"]
        assert bool(perms["review"]["raise_query"]) is expected
        assert bool(perms["review"]) is expected
        assert ("review.raise_query" in perms) is expected
        assert not perms["review"]["sign_record"]
