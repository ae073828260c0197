import pytest
from django.contrib import admin
from django.urls import reverse

from core.models import ClinicalRecord
from patients.models import Patient
from safety.models import AdverseEvent
from tests.patients.factories import DiagnosisFactory, MalignancyFactory, PatientFactory
from tests.visits.factories import full_cycle

pytestmark = pytest.mark.django_db


def test_every_clinical_model_is_in_the_admin_without_delete(client_for, admin_user, site_a):
    patient = PatientFactory(site=site_a)
    DiagnosisFactory(patient=patient)
    MalignancyFactory(patient=patient)
    cycle = full_cycle(patient, day2_dose=60)
    from visits.services import deviations_refresh
    deviations_refresh(cycle=cycle, reason="test")
    AdverseEvent.objects.create(patient=patient, term="Headache", onset_date=patient.enrolment_date,
                                grade=1, relatedness="possible", outcome="recovered")
    client = client_for(admin_user)
    clinical = [m for m in admin.site._registry if issubclass(m, ClinicalRecord)]
    assert len(clinical) >= 8
    for model in clinical:
        name = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        assert client.get(reverse(f"{name}_changelist")).status_code == 200, model
        obj = model.objects.first()
        if obj is None:  # review records of adverse events: covered by their own tests
            continue
        assert client.get(reverse(f"{name}_change", args=[obj.pk])).status_code == 200, model
        assert client.get(reverse(f"{name}_history", args=[obj.pk])).status_code == 200, model
        assert client.get(reverse(f"{name}_delete", args=[obj.pk])).status_code == 403, model
        add = client.get(reverse(f"{name}_add"))
        if add.status_code == 200:
            assert b'name="change_reason"' not in add.content  # a first entry needs no reason
        else:
            assert add.status_code == 403  # deviations are written by the rules only


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
