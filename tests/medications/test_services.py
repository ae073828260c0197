"""The medication write path, whatever the channel: the form, the API (field errors
as JSON), the admin (read-only); the derived flags stored with the rules version;
history with reasons; void, never delete; site scoping."""

from datetime import timedelta

import pytest
from django.urls import reverse

from medications import rules, services
from medications.models import ConcomitantMedication
from patients.services import patient_facts_refresh
from tests.api.conftest import api_for, codes_of  # noqa: F401  (the fixture)
from tests.patients.factories import PatientFactory

from .conftest import medication

pytestmark = pytest.mark.django_db


def form_post(patient, **overrides):
    data = {"drug_name": "Cortancyl", "atc_code": "H02AB07", "indication": "myositis", "dose": "20",
            "dose_unit": "mg", "route": "ORAL", "frequency": "QD",
            "start_date": patient.first_infusion_date.isoformat(), "ongoing": "on"}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def form_codes(response):
    return {field: sorted(e.code for e in errors.as_data())
            for field, errors in response.context["form"].errors.items()}


@pytest.mark.req("URS-DOC-001")
def test_the_service_stores_the_derived_flags(patient):
    m = medication(patient)
    m.refresh_from_db()
    assert (m.is_corticosteroid, m.is_immunosuppressant, m.started_during_study) == (True, False, True)
    assert (m.atc_name, m.atc_class_code, m.rules_version) == ("prednisone", "H02AB", rules.RULES_VERSION)
    before = medication(patient, drug_name="Tahor", atc_code="c10aa05",
                        start_date=patient.first_infusion_date - timedelta(days=400))
    before.refresh_from_db()
    assert (before.atc_code, before.is_statin, before.started_during_study) == ("C10AA05", True, False)


@pytest.mark.req("URS-AUD-001")
def test_a_correction_needs_a_reason_and_leaves_history(patient):
    m = medication(patient)
    m.atc_code = "L04AX03"
    m.drug_name = "methotrexate"
    with pytest.raises(ValueError):
        services.medication_save(medication=m, expected_version=m.version)
    m = ConcomitantMedication.objects.get(pk=m.pk)
    m.atc_code, m.drug_name = "L04AX03", "methotrexate"
    services.medication_save(medication=m, reason="wrong drug entered", expected_version=m.version)
    m.refresh_from_db()
    assert (m.is_corticosteroid, m.is_immunosuppressant, m.version) == (False, True, 2)
    reasons = list(m.history.order_by("history_date").values_list("history_change_reason", flat=True))
    assert reasons[-1] == "wrong drug entered"


@pytest.mark.req("URS-PRO-001")
def test_void_keeps_the_row(patient):
    m = medication(patient)
    services.medication_void(medication=m, reason="entered twice", expected_version=m.version)
    m.refresh_from_db()
    assert m.voided_at is not None and m.void_reason == "entered twice"
    assert ConcomitantMedication.objects.filter(pk=m.pk).exists()
    assert not ConcomitantMedication.objects.current().filter(pk=m.pk).exists()


@pytest.mark.req("URS-CHG-003")
def test_a_moved_first_infusion_re_derives_started_during_the_study(patient):
    m = medication(patient, start_date=patient.first_infusion_date - timedelta(days=1))
    assert not m.started_during_study
    from visits.models import Infusion
    Infusion.objects.filter(cycle__patient=patient).update(
        infusion_date=patient.first_infusion_date - timedelta(days=10))
    patient_facts_refresh(patient, reason="test: infusion date corrected")
    m.refresh_from_db()
    assert m.started_during_study
    assert m.history.first().history_change_reason == "test: infusion date corrected"


def test_the_form_creates_and_corrects_through_the_service(client_for, clinician, patient):
    client = client_for(clinician)
    url = reverse("medications:medication_create", args=[patient.pk])
    assert client.get(url).status_code == 200
    response = client.post(url, form_post(patient))
    assert response.status_code == 302, form_codes(response)
    m = ConcomitantMedication.objects.get(patient=patient)
    assert m.is_corticosteroid and m.started_during_study
    update = reverse("medications:medication_update", args=[patient.pk, m.pk])
    response = client.post(update, form_post(patient, dose="10", expected_version="1"))
    assert list(form_codes(response)) == ["change_reason"]
    response = client.post(update, form_post(patient, dose="10", expected_version="1", change_reason="tapered"))
    assert response.status_code == 302
    m.refresh_from_db()
    assert m.dose == 10 and m.version == 2
    listing = client.get(reverse("medications:medication_list", args=[patient.pk]))
    assert b"Cortancyl" in listing.content and b"corticosteroid" in listing.content


def test_the_form_picks_a_drug_of_interest(client_for, clinician, patient):
    client = client_for(clinician)
    url = reverse("medications:medication_create", args=[patient.pk])
    response = client.post(url, form_post(patient, drug_name="", atc_code="", known_drug="L04AX01"))
    assert response.status_code == 302, form_codes(response)
    m = ConcomitantMedication.objects.get(patient=patient)
    assert (m.drug_name, m.atc_code, m.is_immunosuppressant) == ("azathioprine", "L04AX01", True)
    response = client.post(url, form_post(patient, atc_code="H02AB06", known_drug="L04AX01"))
    assert form_codes(response) == {"atc_code": ["atc_mismatch"]}


@pytest.mark.parametrize("overrides, expected", [
    ({"end_date": "2025-06-01"}, {"end_date": ["ongoing_with_end"]}),
    ({"ongoing": None}, {"end_date": ["end_or_ongoing"]}),
    ({"atc_code": "H02"}, {"atc_code": ["atc_format"]}),
    ({"drug_name": ""}, {"drug_name": ["required"]}),
])
def test_the_form_shows_field_errors_and_writes_nothing(client_for, clinician, patient, overrides, expected):
    response = client_for(clinician).post(reverse("medications:medication_create", args=[patient.pk]),
                                          form_post(patient, **overrides))
    assert response.status_code == 200
    assert form_codes(response) == expected
    assert not ConcomitantMedication.objects.exists()


def test_the_void_page(client_for, clinician, patient):
    m = medication(patient)
    url = reverse("medications:medication_void", args=[patient.pk, m.pk])
    client = client_for(clinician)
    assert client.get(url).status_code == 200
    response = client.post(url, {"void_reason": "wrong patient", "expected_version": m.version})
    assert response.status_code == 302
    m.refresh_from_db()
    assert m.void_reason == "wrong patient"
    assert client.get(url).status_code == 403  # already voided


def test_the_api_creates_validates_and_voids(api_for, clinician, patient):
    api = api_for(clinician)
    url = reverse("api:api-medications-list")
    body = {"patient": patient.pk, "drug_name": "Cortancyl", "atc_code": "H02AB07", "dose": "20", "dose_unit": "mg",
            "route": "ORAL", "frequency": "QD", "start_date": patient.first_infusion_date.isoformat(),
            "ongoing": True, "end_date": "2025-06-01"}
    response = api.post(url, body, format="json")
    assert response.status_code == 400
    assert codes_of(response) == {"end_date": ["ongoing_with_end"]}
    body.pop("end_date")
    response = api.post(url, body, format="json")
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["is_corticosteroid"] is True and data["started_during_study"] is True
    detail = reverse("api:api-medications-detail", args=[data["id"]])
    response = api.patch(detail, {"is_corticosteroid": False, "dose": "10", "change_reason": "tapered",
                                  "version": data["version"]}, format="json")
    assert response.status_code == 400 and codes_of(response) == {"is_corticosteroid": ["read_only"]}  # derived
    response = api.patch(detail, {"dose": "10", "change_reason": "tapered", "version": data["version"]},
                         format="json")
    assert response.status_code == 200 and response.json()["is_corticosteroid"] is True
    response = api.post(detail + "void/", {"void_reason": "duplicate", "version": 2}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["voided_at"]


def test_scoping_by_site(api_for, client_for, clinician_b, patient):
    m = medication(patient)
    api = api_for(clinician_b)
    assert api.get(reverse("api:api-medications-list")).json()["count"] == 0
    assert api.get(reverse("api:api-medications-detail", args=[m.pk])).status_code == 404
    client = client_for(clinician_b)
    for url in (reverse("medications:medication_list", args=[patient.pk]),
                reverse("medications:medication_create", args=[patient.pk]),
                reverse("medications:medication_update", args=[patient.pk, m.pk]),
                reverse("medications:medication_void", args=[patient.pk, m.pk])):
        assert client.get(url).status_code == 404, url


def test_read_only_roles_see_but_do_not_write(client_for, coordinator, patient):
    m = medication(patient)
    client = client_for(coordinator)
    listing = client.get(reverse("medications:medication_list", args=[patient.pk]))
    assert listing.status_code == 200 and b"medication-add" not in listing.content
    assert client.get(reverse("medications:medication_create", args=[patient.pk])).status_code == 403
    assert client.get(reverse("medications:medication_update", args=[patient.pk, m.pk])).status_code == 403


def test_the_admin_reads_only(client_for, admin_user, patient):
    m = medication(patient)
    client = client_for(admin_user)
    assert client.get(reverse("admin:medications_concomitantmedication_changelist")).status_code == 200
    assert client.get(reverse("admin:medications_concomitantmedication_change", args=[m.pk])).status_code == 200
    assert client.post(reverse("admin:medications_concomitantmedication_add"), {}).status_code == 403


def test_another_sites_patient_is_refused_by_the_api(api_for, clinician_b, patient):
    other = PatientFactory(site=clinician_b.memberships.first().site, subject_id="02-001")
    assert other.site_id != patient.site_id
    response = api_for(clinician_b).post(reverse("api:api-medications-list"), {
        "patient": patient.pk, "drug_name": "x", "start_date": "2025-05-01", "ongoing": True}, format="json")
    assert response.status_code == 400 and "patient" in codes_of(response)
