import pytest
from django.urls import reverse

from patients.models import Patient
from tests.patients.factories import DiagnosisFactory, MalignancyFactory, PatientFactory

pytestmark = pytest.mark.django_db


def test_admin_pages_render(client_for, admin_user, site_a):
    patient = PatientFactory(site=site_a)
    dx = DiagnosisFactory(patient=patient)
    m = MalignancyFactory(patient=patient)
    client = client_for(admin_user)
    for name, obj in [("patient", patient), ("diagnosis", dx), ("malignancyhistory", m)]:
        assert client.get(reverse(f"admin:patients_{name}_changelist")).status_code == 200
        assert client.get(reverse(f"admin:patients_{name}_change", args=[obj.pk])).status_code == 200
        assert client.get(reverse(f"admin:patients_{name}_history", args=[obj.pk])).status_code == 200
        assert client.get(reverse(f"admin:patients_{name}_delete", args=[obj.pk])).status_code == 403
        add = client.get(reverse(f"admin:patients_{name}_add"))
        assert add.status_code == 200
        assert b'name="change_reason"' not in add.content  # a first entry needs no reason


def test_admin_edit_needs_a_reason_and_keeps_history(client_for, admin_user, site_a):
    patient = PatientFactory(site=site_a, subject_id="01-001")
    client = client_for(admin_user)
    url = reverse("admin:patients_patient_change", args=[patient.pk])
    data = {
        "subject_id": "01-001", "site": site_a.pk, "sex": "M", "birth_year": 1970, "race": "WHITE",
        "consent_date": "2025-03-01", "enrolment_date": "2025-03-10",
        "symptom_onset_date": "2024-12-01", "active_myopathy": "on", "suspected_cause": "none",
        "status": "on_study", "expected_version": patient.version, "change_reason": "",
    }
    response = client.post(url, data)
    assert response.status_code == 200
    assert Patient.objects.get(pk=patient.pk).sex == "F"
    data["change_reason"] = "Corrected from source"
    response = client.post(url, data)
    assert response.status_code == 302
    row = Patient.objects.get(pk=patient.pk).history.latest()
    assert (row.sex, row.history_user, row.history_change_reason) == ("M", admin_user, "Corrected from source")


def test_clinician_has_no_admin(client_for, clinician):
    response = client_for(clinician).get(reverse("admin:index"))
    assert response.status_code == 302
