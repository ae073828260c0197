"""The Django admin: clinical records are read-only there (every write goes through
the services); users, sites and memberships are managed there as before."""

from decimal import Decimal

import pytest
from django.contrib import admin
from django.urls import reverse

from core.models import ClinicalRecord
from core.services import record_save
from safety.models import AdverseEvent
from tests.patients.factories import DiagnosisFactory, MalignancyFactory, PatientFactory
from tests.visits.factories import full_cycle
from visits.models import Infusion, ProtocolDeviation

pytestmark = pytest.mark.django_db


def _history_count(record):
    return type(record).history.filter(id=record.pk).count()


@pytest.mark.req("URS-PRO-002")
def test_every_clinical_model_is_in_the_admin_read_only(client_for, admin_user, site_a):
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
    assert len(clinical) >= 10
    for model in clinical:
        name = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        assert client.get(reverse(f"{name}_changelist")).status_code == 200, model
        assert client.get(reverse(f"{name}_add")).status_code == 403, model
        obj = model.objects.first()
        if obj is None:  # review records of adverse events: covered by their own tests
            continue
        change = client.get(reverse(f"{name}_change", args=[obj.pk]))
        assert change.status_code == 200, model  # viewable...
        assert not change.context["has_change_permission"], model  # ...not editable
        assert b'name="_save"' not in change.content, model
        assert client.get(reverse(f"{name}_history", args=[obj.pk])).status_code == 200, model
        assert client.get(reverse(f"{name}_delete", args=[obj.pk])).status_code == 403, model
        # A POST of the change form is refused: nothing stored, no history row.
        before = (model.objects.filter(pk=obj.pk).values().first(), _history_count(obj))
        assert client.post(reverse(f"{name}_change", args=[obj.pk]), {}).status_code == 403, model
        assert (model.objects.filter(pk=obj.pk).values().first(), _history_count(obj)) == before


@pytest.mark.req("URS-PRO-002")
def test_the_issue_13_admin_dose_change_is_refused(client_for, admin_user, site_a):
    """Issue 13: as admin, changing an infusion's dose to 40 g at
    /admin/visits/infusion/<id>/change/ stored 40/62 g with no deviation. Now refused."""
    patient = PatientFactory(site=site_a)
    cycle = full_cycle(patient, weight_kg=Decimal("62.0"))
    infusion = Infusion.objects.get(cycle=cycle, day=1)
    before = _history_count(infusion)
    data = {"cycle": cycle.pk, "day": 1, "infusion_date": infusion.infusion_date.isoformat(),
            "product": infusion.product, "lot": infusion.lot, "concentration_pct": "10",
            "volume_ml": "400", "dose_g": "40", "max_rate_ml_per_h": "150",
            "expected_version": infusion.version, "change_reason": "Corrected from source"}
    response = client_for(admin_user).post(f"/admin/visits/infusion/{infusion.pk}/change/", data)
    assert response.status_code == 403
    infusion.refresh_from_db()
    assert infusion.dose_g == Decimal("62.0") and infusion.version == 1
    assert _history_count(infusion) == before
    assert not ProtocolDeviation.objects.filter(cycle=cycle).exists()


@pytest.mark.req("URS-PRO-002")
def test_the_history_revert_post_is_refused(client_for, admin_user, site_a):
    patient = PatientFactory(site=site_a, sex="F")
    patient.sex = "M"
    record_save(instance=patient, reason="Source document", user=admin_user)
    first = patient.history.order_by("history_id").first()
    url = reverse("admin:patients_patient_simple_history", args=[patient.pk, first.history_id])
    client = client_for(admin_user)
    assert client.get(url).status_code == 200  # the old version stays viewable
    before = list(patient.history.order_by("history_id").values())
    response = client.post(url, {"subject_id": patient.subject_id, "site": site_a.pk, "sex": "F",
                                 "change_reason": "Reverted", "expected_version": patient.version})
    assert response.status_code == 403
    patient.refresh_from_db()
    assert patient.sex == "M" and list(patient.history.order_by("history_id").values()) == before


def test_non_clinical_admin_is_unchanged(client_for, admin_user, site_a):
    client = client_for(admin_user)
    for name in ("accounts_site", "accounts_membership", "auth_user"):
        assert client.get(reverse(f"admin:{name}_changelist")).status_code == 200, name
        assert client.get(reverse(f"admin:{name}_add")).status_code == 200, name
    response = client.post(reverse("admin:accounts_site_change", args=[site_a.pk]),
                           {"code": "01", "name": "Renamed site", "time_zone": site_a.time_zone,
                            "country": site_a.country})
    assert response.status_code == 302, getattr(response, "context", None) and \
        response.context["adminform"].form.errors
    site_a.refresh_from_db()
    assert site_a.name == "Renamed site"


def test_clinician_has_no_admin(client_for, clinician):
    response = client_for(clinician).get(reverse("admin:index"))
    assert response.status_code == 302
