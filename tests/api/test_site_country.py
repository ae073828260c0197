"""The site's country in the API's patient representation: shown, read-only."""

import pytest

from patients.models import Patient
from tests.api.test_records import patient_json

pytestmark = pytest.mark.django_db


def test_a_patient_shows_its_sites_country(api_for, clinician, patient, site_a):
    site_a.country = "BEL"
    site_a.save()
    body = api_for(clinician).get(f"/api/v1/patients/{patient.pk}/").json()
    assert body["site_code"] == "01" and body["site_country"] == "BEL"


def test_the_country_is_read_only(api_for, clinician, site_a):
    response = api_for(clinician).post("/api/v1/patients/", patient_json(site_a, site_country="USA"), format="json")
    site_a.refresh_from_db()
    assert site_a.country == "FRA"  # never written through a patient
    if response.status_code == 201:
        assert response.json()["site_country"] == "FRA"
    else:  # a client told that the field is not writable
        assert response.status_code == 400 and "site_country" in response.json()["errors"]
    assert Patient.objects.filter(subject_id="01-101").exists() == (response.status_code == 201)


def test_the_schema_documents_site_country():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    patient = schema["components"]["schemas"]["Patient"]["properties"]["site_country"]
    assert patient["readOnly"] is True and patient["type"] == "string"
