"""Locks, e-signatures, source data verification and data queries."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from core.services import record_save
from oversight import services
from patients.models import Patient
from review import services as review_services
from review.models import DataQuery, Signature, SourceVerification
from tests.patients.factories import PatientFactory
from tests.visits.factories import full_cycle
from tests.visits.test_views import cycle_post
from visits.models import Infusion, TreatmentCycle

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery"


@pytest.fixture
def patient(site_a):
    return PatientFactory(site=site_a, subject_id="01-001")


@pytest.fixture
def cycle(patient):
    return full_cycle(patient)


def edit_weight(client, patient, cycle, weight, reason="Scale recalibrated"):
    data = cycle_post(weight=weight)
    infusions = {i.day: i for i in cycle.infusions.all()}
    data.update({"cycle-expected_version": TreatmentCycle.objects.get(pk=cycle.pk).version,
                 "assessment-expected_version": cycle.assessment.version,
                 "day1-expected_version": infusions[1].version, "day2-expected_version": infusions[2].version,
                 "change_reason": reason, "day1-dose_g": weight, "day1-volume_ml": str(Decimal(weight) * 10),
                 "day2-dose_g": weight, "day2-volume_ml": str(Decimal(weight) * 10)})
    return client.post(reverse("visits:cycle_update", args=[patient.pk, cycle.number]), data)


# --- E-signatures ------------------------------------------------------------

@pytest.mark.req("URS-OPS-001")
def test_investigator_signs_and_a_change_invalidates(client_for, investigator, clinician, patient, cycle):
    client = client_for(investigator)
    url = reverse("oversight:cycle_sign", args=[cycle.pk])
    assert client.get(url).status_code == 200
    response = client.post(url, {"password": PASSWORD})
    assert response.status_code == 302
    signature = Signature.objects.get()
    assert (signature.signer, signature.meaning, signature.is_valid) == (investigator, "reviewed and approved", True)
    assert signature.signer_name == investigator.get_full_name()
    assert len(signature.data_hash) == 64
    timeline = client.get(reverse("visits:timeline", args=[patient.pk])).content.decode()
    assert f"Signed by {signature.signer_name}" in timeline

    # The clinician corrects the weight with a reason: the signature is invalidated, visibly.
    assert edit_weight(client_for(clinician), patient, cycle, "72").status_code == 302
    signature.refresh_from_db()
    assert not signature.is_valid and "Scale recalibrated" in signature.invalidated_reason
    timeline = client_for(investigator).get(reverse("visits:timeline", args=[patient.pk])).content.decode()
    assert "Signature invalidated" in timeline and "needs signing again" in timeline
    assert Signature.objects.count() == 1  # kept, not deleted


@pytest.mark.req("URS-SIG-004")
def test_wrong_password_signs_nothing_and_is_logged(client_for, investigator, cycle):
    from oversight.models import AccessEvent
    response = client_for(investigator).post(reverse("oversight:cycle_sign", args=[cycle.pk]), {"password": "nope"})
    assert response.status_code == 200
    assert "password is not correct" in response.content.decode()
    assert not Signature.objects.exists()
    event = AccessEvent.objects.filter(kind="sign_failed").get()
    assert event.user == investigator


@pytest.mark.req("URS-AUT-002")
def test_only_investigators_sign(client_for, clinician, monitor, cycle):
    for user in (clinician, monitor):
        assert client_for(user).post(reverse("oversight:cycle_sign", args=[cycle.pk]),
                                     {"password": PASSWORD}).status_code == 403
    assert not Signature.objects.exists()


@pytest.mark.req("URS-AUT-002")
def test_investigator_of_another_site_gets_404(client_for, site_b, cycle, make_user):
    other = make_user("investigator", site_b)
    assert client_for(other).get(reverse("oversight:cycle_sign", args=[cycle.pk])).status_code == 404


@pytest.mark.req("URS-OPS-001")
def test_casebook_signature_covers_every_record(client_for, investigator, patient, cycle, clinician):
    client_for(investigator).post(reverse("oversight:casebook_sign", args=[patient.pk]), {"password": PASSWORD})
    signature = Signature.objects.get()
    assert signature.record == patient and signature.is_valid
    # A new adverse event changes the casebook.
    client_for(clinician).post(reverse("safety:ae_create", args=[patient.pk]), {
        "term": "Headache", "onset_date": "2025-03-18", "grade": "1", "relatedness": "possible",
        "action_taken": "none", "outcome": "recovered"})
    signature.refresh_from_db()
    assert not signature.is_valid


# --- Locks -------------------------------------------------------------------

@pytest.mark.req("URS-PRO-003")
def test_admin_locks_a_cycle_and_every_path_refuses_edits(client_for, admin_user, clinician, patient, cycle):
    assert client_for(clinician).get(reverse("oversight:cycle_lock", args=[cycle.pk])).status_code == 403
    client = client_for(admin_user)
    assert client.post(reverse("oversight:cycle_lock", args=[cycle.pk]), {"reason": "Interim analysis"}).status_code == 302
    cycle.refresh_from_db()
    assert cycle.locked_at and cycle.history.latest().history_change_reason == "Locked: Interim analysis"
    # Form path: a clear message, nothing saved.
    clinician_client = client_for(clinician)
    response = clinician_client.get(reverse("visits:cycle_update", args=[patient.pk, cycle.number]), follow=True)
    assert "is locked" in response.content.decode()
    response = edit_weight(clinician_client, patient, cycle, "75")
    assert TreatmentCycle.objects.get(pk=cycle.pk).weight_kg == Decimal("70.0")
    # Model path (admin, API and imports share it).
    infusion = Infusion.objects.get(cycle=cycle, day=1)
    infusion.dose_g = Decimal("69")
    with pytest.raises(ValidationError) as exc:
        record_save(instance=infusion, reason="x")
    assert exc.value.error_dict["__all__"][0].code == "locked"
    # Unlock needs a reason and is logged.
    client = client_for(admin_user)
    assert client.post(reverse("oversight:cycle_unlock", args=[cycle.pk]), {"reason": ""}).status_code == 200
    assert client.post(reverse("oversight:cycle_unlock", args=[cycle.pk]),
                       {"reason": "Query resolution"}).status_code == 302
    cycle.refresh_from_db()
    assert cycle.locked_at is None and cycle.history.latest().history_change_reason == "Unlocked: Query resolution"


@pytest.mark.req("URS-PRO-003")
def test_casebook_lock_refuses_new_records(client_for, admin_user, clinician, patient, cycle):
    patient = services.record_lock(record=patient, user=admin_user)
    response = client_for(clinician).post(reverse("safety:ae_create", args=[patient.pk]), {
        "term": "Headache", "onset_date": "2025-03-18", "grade": "1", "relatedness": "possible",
        "action_taken": "none", "outcome": "recovered"})
    assert response.status_code == 200
    assert "locked" in response.content.decode()
    response = client_for(clinician).get(reverse("patients:patient_update", args=[patient.pk]), follow=True)
    assert "locked" in response.content.decode()
    assert Patient.objects.get(pk=patient.pk).version == patient.version


@pytest.mark.req("URS-PRO-003")
def test_a_lock_taken_after_validation_still_refuses_the_save(
        client_for, admin_user, clinician, patient, cycle, monkeypatch):
    """The form validated before the lock; the save re-reads the lock under a row lock."""
    from core.forms import ClinicalRecordForm

    url = reverse("patients:patient_update", args=[patient.pk])
    data = {f: getattr(patient, f) for f in ("subject_id", "sex", "enrolment_date")}
    form_class = client_for(clinician).get(url).context["form"].__class__
    real_save = ClinicalRecordForm.save

    def lock_then_save(form, commit=True):
        services.record_lock(record=Patient.objects.get(pk=patient.pk), user=admin_user)
        return real_save(form, commit)

    monkeypatch.setattr(form_class, "save", lock_then_save)
    page = client_for(clinician).get(url).content.decode()
    assert "is locked" not in page
    form = client_for(clinician).get(url).context["form"]
    post = {k: v for k, v in form.initial.items() if v is not None and not hasattr(v, "pk")}
    post.update({**{k: str(v) for k, v in data.items()}, "expected_version": patient.version,
                 "change_reason": "late correction", "enrolment_date": "2025-03-12"})
    response = client_for(clinician).post(url, post)
    assert response.status_code == 200
    assert "casebook of this patient is locked" in response.content.decode()
    stored = Patient.objects.get(pk=patient.pk)
    assert stored.locked_at and stored.enrolment_date == patient.enrolment_date


# --- Source data verification ------------------------------------------------

@pytest.mark.req("URS-OPS-003")
def test_verification_is_cleared_by_a_change(client_for, monitor, clinician, patient, cycle):
    assert client_for(clinician).post(reverse("oversight:cycle_verify", args=[cycle.pk])).status_code == 403
    assert client_for(monitor).post(reverse("oversight:cycle_verify", args=[cycle.pk])).status_code == 302
    verification = SourceVerification.objects.get()
    assert verification.is_valid and verification.verified_by == monitor
    edit_weight(client_for(clinician), patient, cycle, "71")
    verification.refresh_from_db()
    assert not verification.is_valid
    timeline = client_for(monitor).get(reverse("visits:timeline", args=[patient.pk])).content.decode()
    assert "SDV cleared" in timeline


# --- Data queries ------------------------------------------------------------

@pytest.mark.req("URS-OPS-002")
def test_query_raise_answer_close_reopen(client_for, monitor, clinician, coordinator, patient, cycle):
    from django.test import Client
    client = Client()
    client.force_login(monitor)
    url = reverse("oversight:query_create") + f"?patient={patient.pk}&cycle={cycle.number}"
    page = client.get(url)
    assert page.status_code == 200
    response = client.post(url, {"target": f"treatmentcycle:{cycle.pk}:weight_kg",
                                 "question": "Weight differs from the nursing chart (68 kg)?"})
    query = DataQuery.objects.get()
    assert response.status_code == 302
    assert (query.status, query.field_label, query.cycle_number) == ("open", "Weight (kg)", 1)
    # Shown on the timeline and counted on the clinician's dashboard.
    clinician_client = client_for(clinician)
    assert "Query: Weight (kg) (open)" in clinician_client.get(reverse("visits:timeline", args=[patient.pk])).content.decode()
    assert clinician_client.get(reverse("oversight:dashboard")).context["sections"]["queries"].count == 1
    # The coordinator may read but not close.
    detail = reverse("oversight:query_detail", args=[query.pk])
    coordinator_client = Client()
    coordinator_client.force_login(coordinator)
    assert coordinator_client.post(detail, {"action": "close"}).status_code == 403
    # The clinician answers; the monitor closes, re-opens (with a reason), closes again.
    assert clinician_client.post(detail, {"action": "close"}).status_code == 403
    assert clinician_client.post(detail, {"action": "answer", "text": "Chart checked: 70 kg is right."}).status_code == 302
    query.refresh_from_db()
    assert query.status == "answered"
    assert client.post(detail, {"action": "close", "text": ""}).status_code == 302
    assert client.post(detail, {"action": "reopen", "text": ""}).status_code == 200  # a reason is required
    assert client.post(detail, {"action": "reopen", "text": "Please attach the chart."}).status_code == 302
    query.refresh_from_db()
    assert query.status == "open"
    assert [m.kind for m in query.messages.all()] == ["question", "answer", "close", "reopen"]
    assert query.history.count() >= 4


@pytest.mark.req("URS-OPS-002")
def test_query_target_must_belong_to_the_patient(client_for, monitor, patient, site_a):
    other = full_cycle(PatientFactory(site=site_a, subject_id="01-002"))
    response = client_for(monitor).post(reverse("oversight:query_create") + f"?patient={patient.pk}",
                                        {"target": f"treatmentcycle:{other.pk}:weight_kg", "question": "?"})
    assert response.status_code == 200
    assert not DataQuery.objects.exists()


@pytest.mark.req("URS-AUT-003")
def test_clinician_cannot_raise_queries(client_for, clinician, patient):
    assert client_for(clinician).get(reverse("oversight:query_create") + f"?patient={patient.pk}").status_code == 403


# --- Dashboards ----------------------------------------------------------------

@pytest.mark.parametrize("role, sections", [
    ("clinician", {"due", "queries"}),
    ("investigator", {"due", "queries", "unsigned_cycles", "unsigned_casebooks"}),
    ("coordinator", {"completion"}),
    ("monitor", {"queries", "unverified", "sae"}),
])
@pytest.mark.req("URS-OPS-006")
def test_dashboard_sections_per_role(client_for, site_a, role, sections, cycle):
    from tests.conftest import _user_with_role
    user = _user_with_role(role, site_a if role in ("clinician", "investigator") else None, username=f"d-{role}")
    response = client_for(user).get("/", follow=True)
    assert response.status_code == 200
    assert set(response.context["sections"]) == sections


def test_admin_dashboard_has_everything(client_for, admin_user, cycle):
    sections = client_for(admin_user).get(reverse("oversight:dashboard")).context["sections"]
    assert {"due", "queries", "unsigned_cycles", "completion", "unverified", "sae", "recent_audit"} <= set(sections)
    completion = sections["completion"][0]
    assert (completion["patients"], completion["cycles"]) == (1, 1)


def test_dashboard_runs_a_constant_number_of_queries(client_for, admin_user, site_a):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = client_for(admin_user)
    client.get(reverse("oversight:dashboard"))  # warms Django's content-type cache
    counts = []
    for start, n in ((1, 1), (2, 8)):
        for i in range(start, start + n):
            full_cycle(PatientFactory(site=site_a, subject_id=f"01-{i:03d}"))
        with CaptureQueriesContext(connection) as captured:
            assert client.get(reverse("oversight:dashboard")).status_code == 200
        counts.append(len(captured))
    # Each section is a fixed set of queries; the recent audit rows cost one query per record
    # type on the page (two per history type), so the count is bounded, not growing with the cohort.
    assert max(counts) <= 31, counts  # +1: the next cycles overdue / in window (one aggregate)


# --- Guessing the signing password locks the account (issue 12, finding 1) ----------------

@pytest.mark.parametrize("kind", ["cycle", "casebook"])
@pytest.mark.req("URS-SIG-004")
def test_wrong_signing_passwords_lock_the_account(client_for, investigator, patient, cycle, kind):
    """Through the view, as an attacker with a stolen session would: each wrong password
    is a failed login that stays recorded although nothing is signed, the fifth locks the
    account, and then even the right password signs nothing."""
    from axes.models import AccessAttempt
    from django.db.models import Sum

    from oversight.models import AccessEvent, AccessKind

    url = reverse(f"oversight:{kind}_sign", args=[cycle.pk if kind == "cycle" else patient.pk])
    client = client_for(investigator)
    for _ in range(4):
        response = client.post(url, {"password": "guess"})
        assert response.status_code == 200 and "password is not correct" in response.content.decode()
    response = client.post(url, {"password": "guess"})
    assert response.status_code == 429 and "This account is locked" in response.content.decode()
    failures = AccessAttempt.objects.filter(username=investigator.username).aggregate(n=Sum("failures_since_start"))
    assert failures["n"] == 5
    assert AccessEvent.objects.filter(kind=AccessKind.LOGIN_FAILED, user=investigator).count() == 5
    assert AccessEvent.objects.filter(kind=AccessKind.LOCKED_OUT, user=investigator).count() == 1
    # The session the guesses came from is over; a new one cannot sign either.
    assert client.post(url, {"password": PASSWORD}).status_code == 302  # to the login page
    client = client_for(investigator)
    response = client.post(url, {"password": PASSWORD})
    assert response.status_code == 429
    assert not Signature.objects.exists()


@pytest.mark.req("URS-SIG-005")
def test_signing_refuses_to_run_inside_a_caller_transaction(investigator, cycle, rf):
    """A caller's transaction would roll the failed attempts back with the refused
    signature: the password re-check refuses to run inside one."""
    from django.db import transaction

    request = rf.post("/")
    request.user = investigator
    with pytest.raises(RuntimeError, match="durable"):
        with transaction.atomic():
            review_services.record_sign(record=cycle, user=investigator, password="guess", request=request)
