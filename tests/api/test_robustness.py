"""Whatever the input, the answer is a documented one: never a 5xx.

(The schemathesis run of ``api/fuzz.sh`` does this against a live server;
these properties keep the cases it found in the suite.)
"""

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.visits.factories import full_cycle

pytestmark = pytest.mark.django_db

SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
ISO = st.dates().map(lambda d: d.isoformat())


@SETTINGS
@given(birth_year=st.integers(min_value=-1, max_value=10**20), consent=ISO, enrolment=ISO, onset=ISO,
       birth_date=st.none() | ISO)
@example(birth_year=10000, consent="2025-03-01", enrolment="2025-03-10", onset="2024-12-01", birth_date=None)
@example(birth_year=1970, consent="0001-01-01", enrolment="9999-12-31", onset="0001-01-01", birth_date="9999-12-31")
def test_enrolment_never_fails_with_a_server_error(api_for, clinician, site_a, birth_year, consent, enrolment,
                                                   onset, birth_date):
    client = api_for(clinician)
    client.raise_request_exception = False
    response = client.post("/api/v1/patients/", {
        "subject_id": "01-101", "site": site_a.pk, "sex": "F", "birth_year": birth_year, "birth_date": birth_date,
        "consent_date": consent, "enrolment_date": enrolment, "symptom_onset_date": onset,
        "active_myopathy": True}, format="json")
    assert response.status_code in (201, 400), response.content


@SETTINGS
@given(start=ISO, day2=ISO, weight=st.decimals(allow_nan=True, allow_infinity=True, places=None).map(str),
       dose=st.sampled_from(["0", "-1", "60", "70.0", "1e10", "99999.9", "NaN", "0.05"]))
@pytest.mark.req("URS-DAT-005")
def test_cycle_entry_never_fails_with_a_server_error(api_for, clinician, patient, start, day2, weight, dose):
    client = api_for(clinician)
    client.raise_request_exception = False
    infusion = {"lot": "L", "volume_ml": "700", "max_rate_ml_per_h": "150"}
    response = client.post("/api/v1/cycles/", {
        "patient": patient.pk, "start_date": start, "weight_kg": weight,
        "assessment": {"assessment_date": start, "ck_u_per_l": dose, "ck_uln_u_per_l": "200"},
        "infusions": [{"day": 1, "infusion_date": start, "dose_g": dose, **infusion},
                      {"day": 2, "infusion_date": day2, "dose_g": "70", **infusion}]}, format="json")
    assert response.status_code in (201, 400), response.content


@SETTINGS
@given(on=ISO, version=st.integers(min_value=-(10**20), max_value=10**20), reason=st.text(max_size=600))
@example(on="0001-01-01", version=1, reason="Date corrected")
@example(on="9999-12-31", version=1, reason="Date corrected")
def test_corrections_never_fail_with_a_server_error(api_for, clinician, patient, on, version, reason):
    cycle = full_cycle(patient, number=1) if not patient.cycles.exists() else patient.cycles.get()
    client = api_for(clinician)
    client.raise_request_exception = False
    for url, data in ((f"/api/v1/cycles/{cycle.pk}/", {"start_date": on}),
                      (f"/api/v1/infusions/{cycle.infusions.get(day=2).pk}/", {"infusion_date": on}),
                      (f"/api/v1/patients/{patient.pk}/", {"enrolment_date": on})):
        response = client.patch(url, {**data, "version": version, "change_reason": reason}, format="json")
        assert response.status_code in (200, 400, 409), response.content
    response = client.post(f"/api/v1/patients/{patient.pk}/withdraw/", {
        "withdrawal_date": on, "withdrawal_reason": reason, "version": version}, format="json")
    assert response.status_code in (200, 400, 409), response.content


# --- Issue 12, finding 10: Django-level errors under /api/ have the JSON shape ----------------

def _shape(response):
    import json

    body = json.loads(response.content)
    assert set(body) == {"detail", "code", "errors"}, body
    return body


@pytest.mark.req("URS-SEC-002")
def test_body_over_the_size_limit_is_a_json_413(api_for, clinician, settings):
    import json

    from patients.models import Patient

    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    response = api_for(clinician).post("/api/v1/patients/", json.dumps({"subject_id": "01-101", "x": "y" * 20_000}),
                                       content_type="application/json")
    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    body = _shape(response)
    assert body["code"] == "request_too_large" and "10000 bytes" in body["detail"]
    assert not Patient.objects.exists()


def test_django_error_pages_under_api_are_json(rf, settings):
    from django.core.exceptions import PermissionDenied, RequestDataTooBig, TooManyFieldsSent
    from django.http import Http404

    from api import exceptions

    request = rf.post("/api/v1/patients/")
    for response, status, code in [
        (exceptions.bad_request(request, RequestDataTooBig()), 413, "request_too_large"),
        (exceptions.bad_request(request, TooManyFieldsSent()), 400, "bad_request"),
        (exceptions.permission_denied(request, PermissionDenied()), 403, "permission_denied"),
        (exceptions.page_not_found(request, Http404()), 404, "not_found"),
        (exceptions.server_error(request), 500, "server_error"),
        (exceptions.csrf_failure(request, "CSRF cookie not set."), 403, "csrf_failed"),
    ]:
        assert response.status_code == status
        assert response["Content-Type"] == "application/json"
        assert _shape(response)["code"] == code
    page = rf.get("/patients/")  # the pages keep Django's HTML
    assert exceptions.page_not_found(page, Http404())["Content-Type"].startswith("text/html")
    assert exceptions.csrf_failure(page, "x")["Content-Type"].startswith("text/html")


def test_an_unexpected_error_in_the_api_is_a_json_500(api_for, clinician, monkeypatch):
    from rest_framework.test import APIClient

    from api import views

    def boom(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(views.PatientViewSet, "list", boom)
    client = api_for(clinician)
    client.raise_request_exception = False
    response = client.get("/api/v1/patients/")
    assert response.status_code == 500
    assert _shape(response)["code"] == "server_error"
    assert isinstance(client, APIClient)
