from datetime import date

import pytest
from django.urls import reverse

from patients.models import Diagnosis, MalignancyHistory, Patient
from tests.patients.factories import DiagnosisFactory, MalignancyFactory, PatientFactory

pytestmark = pytest.mark.django_db


def patient_post(**overrides):
    data = {
        "subject_id": "01-101", "site": "", "sex": "F", "birth_year": "1970", "birth_date": "",
        "race": "WHITE", "consent_date": "2025-03-01", "enrolment_date": "2025-03-10",
        "symptom_onset_date": "2024-12-01", "active_myopathy": "on",
        "suspected_cause": "none", "suspected_cause_detail": "", "status": "on_study",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


# --- Access ------------------------------------------------------------------

def test_anonymous_is_sent_to_login(client, site_a):
    patient = PatientFactory(site=site_a)
    for url in [reverse("patients:patient_list"), patient.get_absolute_url(),
                reverse("patients:patient_create")]:
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("accounts:login"))


@pytest.mark.req("URS-ACC-002")
def test_clinician_sees_only_own_site(client_for, clinician, site_a, site_b):
    own = PatientFactory(site=site_a, subject_id="01-001")
    other = PatientFactory(site=site_b, subject_id="02-001")
    client = client_for(clinician)
    listing = client.get(reverse("patients:patient_list"))
    assert list(listing.context["patients"]) == [own]
    assert client.get(own.get_absolute_url()).status_code == 200
    # Another site's patient does not exist for this clinician: 404, not 403.
    assert client.get(other.get_absolute_url()).status_code == 404
    assert client.get(reverse("patients:patient_update", args=[other.pk])).status_code == 404
    assert client.post(reverse("patients:diagnosis_edit", args=[other.pk]), {}).status_code == 404
    assert client.get(reverse("patients:malignancy_create", args=[other.pk])).status_code == 404


def test_study_wide_roles_see_every_site(client_for, coordinator, monitor, admin_user, site_a, site_b):
    PatientFactory(site=site_a, subject_id="01-001")
    PatientFactory(site=site_b, subject_id="02-001")
    for user in (coordinator, monitor, admin_user):
        listing = client_for(user).get(reverse("patients:patient_list"))
        assert listing.context["paginator"].count == 2


@pytest.mark.req("URS-AUT-003")
def test_coordinator_cannot_edit(client_for, coordinator, site_a):
    patient = PatientFactory(site=site_a)
    client = client_for(coordinator)
    assert client.get(patient.get_absolute_url()).status_code == 200
    response = client.post(reverse("patients:patient_update", args=[patient.pk]),
                           patient_post(subject_id=patient.subject_id, site=site_a.pk,
                                        sex="M", change_reason="x", expected_version="1"))
    assert response.status_code == 403
    assert Patient.objects.get(pk=patient.pk).sex == "F"
    assert client.post(reverse("patients:patient_create"), patient_post(site=site_a.pk)).status_code == 403
    assert client.get(reverse("patients:patient_withdraw", args=[patient.pk])).status_code == 403


@pytest.mark.req("URS-ACC-003")
def test_user_without_role_sees_nothing(client_for, site_a, make_user):
    from tests.accounts.factories import UserFactory
    PatientFactory(site=site_a)
    client = client_for(UserFactory(username="nobody"))
    assert client.get(reverse("patients:patient_list")).status_code == 403


# --- List --------------------------------------------------------------------

def test_list_filters_and_search(client_for, monitor, site_a, site_b):
    pm = DiagnosisFactory(pm=True, patient=PatientFactory(site=site_a, subject_id="01-001")).patient
    dm = DiagnosisFactory(patient=PatientFactory(site=site_b, subject_id="02-001")).patient
    bare = PatientFactory(site=site_b, subject_id="02-002", status="screening")
    client = client_for(monitor)

    def subjects(**params):
        response = client.get(reverse("patients:patient_list"), params)
        return [p.subject_id for p in response.context["patients"]]

    assert subjects(diagnosis="PM") == [pm.subject_id]
    assert subjects(diagnosis="DM") == [dm.subject_id]
    assert subjects(diagnosis="none") == [bare.subject_id]
    assert subjects(site=site_b.pk) == ["02-001", "02-002"]
    assert subjects(status="screening") == ["02-002"]
    assert subjects(search="02-00") == ["02-001", "02-002"]
    assert subjects(search="01-") == ["01-001"]


def test_list_paginates(client_for, monitor, site_a):
    for n in range(1, 53):
        PatientFactory(site=site_a, subject_id=f"01-{n:03d}")
    client = client_for(monitor)
    first = client.get(reverse("patients:patient_list"))
    assert len(first.context["patients"]) == 50
    second = client.get(reverse("patients:patient_list"), {"page": 2})
    assert [p.subject_id for p in second.context["patients"]] == ["01-051", "01-052"]


@pytest.mark.parametrize("n", [1, 30])
@pytest.mark.req("URS-USR-002")
def test_list_runs_a_constant_number_of_queries(client_for, monitor, site_a, n, django_assert_num_queries):
    for i in range(1, n + 1):
        DiagnosisFactory(patient=PatientFactory(site=site_a, subject_id=f"01-{i:03d}"))
    client = client_for(monitor)
    # session, user, memberships, role permissions (one query, issue 12), the monitor's SAE banner, count,
    # site filter choices, page
    with django_assert_num_queries(8):
        assert client.get(reverse("patients:patient_list")).status_code == 200


@pytest.mark.parametrize("n", [1, 12])
def test_detail_runs_a_constant_number_of_queries(client_for, clinician, site_a, n,
                                                  django_assert_num_queries):
    patient = PatientFactory(site=site_a)
    DiagnosisFactory(patient=patient)
    for i in range(n):
        m = MalignancyFactory(patient=patient, malignancy_type=f"Tumour {i}")
        m.notes = "edited"
        m._change_reason = "typo"
        m.save()
    client = client_for(clinician)
    # session, user, memberships, role permissions (one query, issue 12), patient+diagnosis, malignancies,
    # three history tables
    with django_assert_num_queries(9):
        assert client.get(patient.get_absolute_url()).status_code == 200


# --- Create ------------------------------------------------------------------

def test_create_patient(client_for, clinician, site_a):
    client = client_for(clinician)
    response = client.get(reverse("patients:patient_create"))
    assert response.status_code == 200
    assert list(response.context["form"].fields["site"].queryset) == [site_a]
    response = client.post(reverse("patients:patient_create"), patient_post(site=site_a.pk))
    patient = Patient.objects.get(subject_id="01-101")
    assert response.status_code == 302
    assert response["Location"] == patient.get_absolute_url()
    history = patient.history.get()
    assert history.history_type == "+"
    assert history.history_user == clinician


def test_clinician_cannot_enrol_at_another_site(client_for, clinician, site_a, site_b):
    response = client_for(clinician).post(reverse("patients:patient_create"),
                                          patient_post(site=site_b.pk, subject_id="02-101"))
    assert response.status_code == 200
    assert "site" in response.context["form"].errors
    assert not Patient.objects.exists()


@pytest.mark.parametrize(
    "overrides, field, fragment",
    [
        ({"birth_date": "2030-01-01", "birth_year": "2030"}, "birth_date", "future"),
        ({"birth_year": "2010"}, "birth_year", "under 18"),
        ({"consent_date": "2025-03-11"}, "consent_date", "on or before the enrolment"),
        ({"symptom_onset_date": "2025-03-11"}, "symptom_onset_date", "on or before the enrolment"),
        ({"ctd_associated": "on"}, "ctd_associated", "exclusion criterion"),
        ({"active_myopathy": None}, "active_myopathy", "active inflammatory myopathy"),
        ({"subject_id": "02-101"}, "subject_id", "starts with 01-"),
        ({"birth_year": "abc"}, "birth_year", "whole number"),
        ({"enrolment_date": "31/02/2025"}, "enrolment_date", "valid date"),
        ({"status": "completed"}, "status", "valid choice"),
    ],
)
@pytest.mark.req("URS-CHK-007")
def test_create_rejects_bad_input_with_a_field_error(client_for, clinician, site_a, overrides, field, fragment):
    response = client_for(clinician).post(reverse("patients:patient_create"),
                                          patient_post(site=site_a.pk, **overrides))
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert field in errors, errors
    assert any(fragment in e for e in errors[field]), errors[field]
    assert not Patient.objects.exists()
    assert not Patient.history.exists()


def test_duplicate_subject_id(client_for, clinician, site_a):
    PatientFactory(site=site_a, subject_id="01-101")
    response = client_for(clinician).post(reverse("patients:patient_create"), patient_post(site=site_a.pk))
    assert "already exists" in response.context["form"].errors["subject_id"][0]
    assert Patient.objects.count() == 1


# --- Edit with a reason ------------------------------------------------------

def edit_data(patient, **overrides):
    data = patient_post(subject_id=patient.subject_id, site=patient.site_id, status=patient.status,
                        expected_version=str(patient.version), change_reason="Wrong date on the CRF")
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


@pytest.mark.req("URS-AUD-001")
def test_edit_requires_a_reason(client_for, clinician, site_a):
    patient = PatientFactory(site=site_a, subject_id="01-101")
    url = reverse("patients:patient_update", args=[patient.pk])
    response = client_for(clinician).post(url, edit_data(patient, enrolment_date="2025-03-12",
                                                         change_reason="  "))
    assert response.status_code == 200
    assert response.context["form"].errors["change_reason"] == ["Give a reason for changing a saved record."]
    assert Patient.objects.get(pk=patient.pk).enrolment_date == date(2025, 3, 10)
    assert patient.history.count() == 1


@pytest.mark.req("URS-AUD-001")
def test_edit_with_reason_shows_in_the_change_log(client_for, clinician, site_a):
    patient = PatientFactory(site=site_a, subject_id="01-101")
    client = client_for(clinician)
    url = reverse("patients:patient_update", args=[patient.pk])
    response = client.post(url, edit_data(patient, enrolment_date="2025-03-12"))
    assert response.status_code == 302
    stored = Patient.objects.get(pk=patient.pk)
    assert stored.enrolment_date == date(2025, 3, 12)
    row = stored.history.latest()
    assert (row.history_type, row.history_user, row.history_change_reason) == (
        "~", clinician, "Wrong date on the CRF")

    page = client.get(patient.get_absolute_url())
    entry = page.context["change_log"][0]
    assert entry.action == "changed"
    assert entry.user == clinician
    assert entry.reason == "Wrong date on the CRF"
    assert [(c.label, c.old, c.new) for c in entry.changes] == [
        ("Enrolment date", "2025-03-10", "2025-03-12")]
    html = page.content.decode()
    assert "Wrong date on the CRF" in html and "2025-03-12" in html


@pytest.mark.req("URS-AUD-001")
def test_edit_with_no_change_is_refused(client_for, clinician, site_a):
    patient = PatientFactory(site=site_a, subject_id="01-101")
    response = client_for(clinician).post(reverse("patients:patient_update", args=[patient.pk]),
                                          edit_data(patient))
    assert response.context["form"].non_field_errors() == ["Nothing was changed."]
    assert patient.history.count() == 1


@pytest.mark.req("URS-PRO-006")
def test_stale_edit_overwrites_nothing(client_for, clinician, site_a):
    patient = PatientFactory(site=site_a, subject_id="01-101")
    client = client_for(clinician)
    url = reverse("patients:patient_update", args=[patient.pk])
    stale = edit_data(patient, sex="M")
    assert client.post(url, edit_data(patient, enrolment_date="2025-03-12")).status_code == 302
    response = client.post(url, stale)
    assert response.status_code == 200
    message = response.context["form"].non_field_errors()[0]
    assert "Someone else saved this record" in message
    assert "changed Enrolment date: 2025-03-10 → 2025-03-12" in message
    stored = Patient.objects.get(pk=patient.pk)
    assert (stored.sex, stored.enrolment_date, stored.version) == ("F", date(2025, 3, 12), 2)


@pytest.mark.req("URS-OPS-004")
def test_invalid_status_move_is_refused(client_for, clinician, site_a):
    patient = PatientFactory(site=site_a, subject_id="01-101", status="on_study")
    response = client_for(clinician).post(reverse("patients:patient_update", args=[patient.pk]),
                                          edit_data(patient, status="screening"))
    assert "status" in response.context["form"].errors
    assert Patient.objects.get(pk=patient.pk).status == "on_study"


# --- Withdraw ----------------------------------------------------------------

@pytest.mark.req("URS-OPS-004")
def test_withdraw(client_for, clinician, site_a):
    patient = PatientFactory(site=site_a, subject_id="01-101")
    client = client_for(clinician)
    url = reverse("patients:patient_withdraw", args=[patient.pk])
    response = client.post(url, {"withdrawal_date": "2025-05-01", "withdrawal_reason": "",
                                 "expected_version": patient.version})
    assert "withdrawal_reason" in response.context["form"].errors
    response = client.post(url, {"withdrawal_date": "2025-03-01", "withdrawal_reason": "Moved away",
                                 "expected_version": patient.version})
    assert response.context["form"].errors["withdrawal_date"] == ["Withdrawal cannot be before enrolment."]
    response = client.post(url, {"withdrawal_date": "2025-05-01", "withdrawal_reason": "Moved away",
                                 "expected_version": patient.version})
    assert response.status_code == 302
    stored = Patient.objects.get(pk=patient.pk)
    assert (stored.status, stored.withdrawal_reason) == ("withdrawn", "Moved away")
    assert stored.history.latest().history_change_reason == "Withdrawn: Moved away"
    # Nothing was deleted; withdrawing twice is refused.
    response = client.post(url, {"withdrawal_date": "2025-05-02", "withdrawal_reason": "again",
                                 "expected_version": stored.version})
    assert response.status_code == 200
    assert "cannot be withdrawn" in str(response.context["form"].errors)


# --- Diagnosis ---------------------------------------------------------------

def dx_post(**overrides):
    data = {"kind": "DM", "diagnosis_date": "2025-02-01", "bp_weakness": "on", "bp_enzymes": "on",
            "bp_emg": "on", "heliotrope_rash": "on"}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


@pytest.mark.req("URS-PRT-002")
def test_record_dm_diagnosis_definite(client_for, clinician, site_a):
    patient = PatientFactory(site=site_a, subject_id="01-101")
    client = client_for(clinician)
    url = reverse("patients:diagnosis_edit", args=[patient.pk])
    assert client.get(url).status_code == 200
    assert client.post(url, dx_post()).status_code == 302
    page = client.get(patient.get_absolute_url())
    assert page.context["diagnosis"].certainty == "definite"
    assert '<span class="derived" id="bp-certainty">definite</span>' in page.content.decode()


@pytest.mark.req("URS-PRT-002")
def test_dm_without_rash_is_refused(client_for, clinician, site_a):
    patient = PatientFactory(site=site_a, subject_id="01-101")
    response = client_for(clinician).post(reverse("patients:diagnosis_edit", args=[patient.pk]),
                                          dx_post(heliotrope_rash=None))
    assert "needs the typical rash" in response.context["form"].errors["kind"][0]
    assert not Diagnosis.objects.exists()


@pytest.mark.req("URS-PRT-003")
def test_biopsy_finding_without_biopsy_is_refused(client_for, clinician, site_a):
    patient = PatientFactory(site=site_a, subject_id="01-101")
    response = client_for(clinician).post(reverse("patients:diagnosis_edit", args=[patient.pk]),
                                          dx_post(biopsy_rimmed_vacuoles="on"))
    assert "biopsy_rimmed_vacuoles" in response.context["form"].errors


def test_biopsy_evidence_without_biopsy_is_a_field_error(client_for, clinician, site_a):
    patient = PatientFactory(site=site_a, subject_id="01-101")
    response = client_for(clinician).post(reverse("patients:diagnosis_edit", args=[patient.pk]),
                                          dx_post(bp_biopsy="on"))
    assert response.status_code == 200
    assert "needs a muscle biopsy" in response.context["form"].errors["bp_biopsy"][0]


def test_correct_diagnosis_needs_reason(client_for, clinician, site_a):
    dx = DiagnosisFactory(patient=PatientFactory(site=site_a, subject_id="01-101"))
    client = client_for(clinician)
    url = reverse("patients:diagnosis_edit", args=[dx.patient.pk])
    response = client.post(url, dx_post(bp_biopsy="on", biopsy_performed="on", expected_version=dx.version))
    assert "change_reason" in response.context["form"].errors
    response = client.post(url, dx_post(bp_biopsy="on", biopsy_performed="on", expected_version=dx.version,
                                        change_reason="Biopsy report received"))
    assert response.status_code == 302
    assert Diagnosis.objects.get(pk=dx.pk).bp_biopsy is True
    assert dx.history.latest().history_change_reason == "Biopsy report received"


# --- Malignancy --------------------------------------------------------------

def test_add_edit_and_void_malignancy(client_for, clinician, site_a):
    patient = PatientFactory(site=site_a, subject_id="01-101")
    client = client_for(clinician)
    create = reverse("patients:malignancy_create", args=[patient.pk])
    response = client.post(create, {"malignancy_type": "Lymphoma", "diagnosis_date": "2099-01-01",
                                    "status": "remission", "certainty": "confirmed"})
    assert response.context["form"].errors["diagnosis_date"] == [
        "The malignancy diagnosis date cannot be in the future."]
    response = client.post(create, {"malignancy_type": "Lymphoma", "diagnosis_date": "2018-01-01",
                                    "status": "remission", "certainty": "confirmed"})
    assert response.status_code == 302
    m = MalignancyHistory.objects.get()

    void = reverse("patients:malignancy_void", args=[patient.pk, m.pk])
    assert client.post(void, {"void_reason": "", "expected_version": m.version}).status_code == 200
    assert client.post(void, {"void_reason": "Entered for the wrong patient",
                              "expected_version": m.version}).status_code == 302
    m.refresh_from_db()
    assert m.is_voided and m.void_reason == "Entered for the wrong patient"
    assert MalignancyHistory.objects.count() == 1  # kept, never deleted
    # A voided entry cannot be edited.
    response = client.get(reverse("patients:malignancy_update", args=[patient.pk, m.pk]))
    assert response.status_code == 302
    page = client.get(patient.get_absolute_url())
    assert 'class="voided"' in page.content.decode()


def test_malignancy_of_another_patient_is_404(client_for, clinician, site_a):
    one = PatientFactory(site=site_a, subject_id="01-101")
    two = PatientFactory(site=site_a, subject_id="01-102")
    m = MalignancyFactory(patient=two)
    response = client_for(clinician).get(reverse("patients:malignancy_update", args=[one.pk, m.pk]))
    assert response.status_code == 404
