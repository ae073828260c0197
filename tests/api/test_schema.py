"""The OpenAPI schema and the interactive docs."""

import pytest
import yaml
from drf_spectacular.validation import validate_schema
from rest_framework.test import APIClient

from patients.models import PatientStatus, Race
from safety.models import Relatedness
from visits.models import DeviationKind

pytestmark = pytest.mark.django_db

PATHS = {
    "/api/v1/patients/": {"get", "post"},
    "/api/v1/patients/{id}/": {"get", "put", "patch"},
    "/api/v1/patients/{id}/withdraw/": {"post"},
    "/api/v1/diagnoses/": {"get", "post"},
    "/api/v1/diagnoses/{id}/": {"get", "put", "patch"},
    "/api/v1/malignancies/": {"get", "post"},
    "/api/v1/malignancies/{id}/": {"get", "put", "patch"},
    "/api/v1/malignancies/{id}/void/": {"post"},
    "/api/v1/cycles/": {"get", "post"},
    "/api/v1/cycles/{id}/": {"get", "put", "patch"},
    "/api/v1/assessments/": {"get", "post"},
    "/api/v1/assessments/{id}/": {"get", "put", "patch"},
    "/api/v1/assessments/{id}/void/": {"post"},
    "/api/v1/infusions/": {"get", "post"},
    "/api/v1/infusions/{id}/": {"get", "put", "patch"},
    "/api/v1/adverse-events/": {"get", "post"},
    "/api/v1/adverse-events/{id}/": {"get", "put", "patch"},
    "/api/v1/adverse-events/{id}/void/": {"post"},
    "/api/v1/medications/": {"get", "post"},
    "/api/v1/medications/{id}/": {"get", "put", "patch"},
    "/api/v1/medications/{id}/void/": {"post"},
    "/api/v1/deviations/": {"get"},
    "/api/v1/deviations/{id}/": {"get"},
    "/api/v1/data-queries/": {"get", "post"},
    "/api/v1/data-queries/{id}/": {"get"},
    "/api/v1/data-queries/{id}/answer/": {"post"},
    "/api/v1/data-queries/{id}/close/": {"post"},
    "/api/v1/data-queries/{id}/reopen/": {"post"},
    "/api/v1/missed-cycles/": {"get", "post"},
    "/api/v1/missed-cycles/{id}/": {"get", "put", "patch"},
    "/api/v1/missed-cycles/{id}/void/": {"post"},
}


@pytest.fixture
def schema(api_for, clinician):
    response = api_for(clinician).get("/api/v1/schema/")
    assert response.status_code == 200
    return yaml.safe_load(response.content)


def test_schema_needs_authentication():
    assert APIClient().get("/api/v1/schema/").status_code == 401


@pytest.mark.req("URS-DOC-002")
def test_schema_is_valid_openapi_with_every_endpoint(schema):
    validate_schema(schema)
    assert schema["openapi"].startswith("3.")
    assert {path: set(ops) - {"parameters"} for path, ops in schema["paths"].items()} == PATHS
    assert "delete" not in str({op for ops in schema["paths"].values() for op in ops})


@pytest.mark.req("URS-DOC-002")
def test_every_operation_documents_its_errors(schema):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            codes = set(operation["responses"])
            assert {"401", "403"} <= codes, (method, path)
            if method in ("post", "put", "patch"):
                assert "400" in codes, (method, path)
            if "{id}" in path:
                assert "404" in codes, (method, path)
            if method in ("put", "patch") or path.endswith(("/void/", "/withdraw/")):
                assert {"409", "412", "428"} <= codes, (method, path)
                names = {p["name"] for p in operation.get("parameters", [])}
                assert "If-Match" in names, (method, path)
            for code, response in operation["responses"].items():
                if code >= "400":
                    assert response["content"]["application/json"]["schema"] == {
                        "$ref": "#/components/schemas/Error"}, (method, path, code)


@pytest.mark.req("URS-DOC-002")
def test_error_shape_and_enums_are_documented(schema):
    components = schema["components"]["schemas"]
    assert set(components["Error"]["properties"]) == {"detail", "code", "errors"}
    assert set(components["ErrorItem"]["properties"]) == {"message", "code"}
    assert components["PatientStatusEnum"]["enum"] == PatientStatus.values
    assert components["RaceEnum"]["enum"] == Race.values
    assert components["RelatednessEnum"]["enum"] == Relatedness.values
    assert components["DeviationKindEnum"]["enum"] == DeviationKind.values
    derived = components["Cycle"]["properties"]
    assert derived["prescribed_daily_dose_g"]["readOnly"] and derived["open_deviations"]["readOnly"]
    assert "prescribed_daily_dose_g" not in components["CycleRequest"]["properties"]
    assert set(components["CycleRequest"]["properties"]) >= {"assessment", "infusions", "change_reason"}
    assert schema["paths"]["/api/v1/patients/{id}/"]["get"]["responses"]["200"]["headers"]["ETag"]


def test_docs_are_served_from_local_static_files(client_for, clinician):
    response = client_for(clinician).get("/api/v1/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html and "/static/drf_spectacular_sidecar/" in html
    assert "cdn" not in html.lower() and "unpkg" not in html.lower()
    redoc = client_for(clinician).get("/api/v1/redoc/").content.decode()
    assert "/static/drf_spectacular_sidecar/" in redoc and "cdn" not in redoc.lower()


def test_docs_send_anonymous_browsers_to_login(client):
    response = client.get("/api/v1/docs/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_api_root_links_the_collections(api_for, clinician):
    links = api_for(clinician).get("/api/v1/").json()
    assert links["patients"].endswith("/api/v1/patients/")
    assert links["schema"].endswith("/api/v1/schema/")
