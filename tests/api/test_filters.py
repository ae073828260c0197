"""The list filters are one django-filter FilterSet per list concept (``<app>/filters.py``),
shared by the pages and the API: the same parsing, the same scope, the same documentation."""

import pytest
import yaml
from django.urls import reverse

from api import views as api_views
from oversight.filters import DataQueryFilterSet
from patients.filters import PatientFilterSet
from safety.filters import AdverseEventFilterSet, AdverseEventListingFilterSet
from safety.models import AdverseEvent
from tests.api.conftest import codes_of
from tests.patients.factories import PatientFactory
from visits.filters import DeviationFilterSet

pytestmark = pytest.mark.django_db


def _event(patient, **fields):
    values = {"term": "Headache", "onset_date": patient.enrolment_date, "grade": 1, "relatedness": "possible",
              "outcome": "recovered", **fields}
    return AdverseEvent.objects.create(patient=patient, **values)


@pytest.mark.parametrize("page, viewset, filterset", [
    ("patients:patient_list", api_views.PatientViewSet, PatientFilterSet),
    ("safety:ae_list", api_views.AdverseEventViewSet, AdverseEventFilterSet),
    ("oversight:ae_listing", api_views.AdverseEventViewSet, AdverseEventListingFilterSet),
    ("visits:deviation_list", api_views.DeviationViewSet, DeviationFilterSet),
    ("oversight:query_list", api_views.DataQueryViewSet, DataQueryFilterSet),
])
def test_the_page_and_the_api_filter_with_the_same_filterset(client_for, admin_user, page, viewset, filterset):
    view = client_for(admin_user).get(reverse(page)).context["view"]
    assert isinstance(view.filterset, filterset)
    assert issubclass(filterset, viewset.filterset_class)


def test_an_invalid_filter_is_dropped_alone_on_the_patient_list(client_for, admin_user, site_a):
    """The old form dropped every filter when one was invalid: ?status=screening&site=٣ listed everyone."""
    PatientFactory(site=site_a, subject_id="01-001", status="screening")
    PatientFactory(site=site_a, subject_id="01-002")
    response = client_for(admin_user).get(reverse("patients:patient_list"),
                                          {"status": "screening", "site": "\u0663"})
    assert response.status_code == 200
    assert response.context["paginator"].count == 1
    assert "site" in response.context["filter_form"].errors


def test_a_site_outside_the_users_is_refused_on_the_page_and_in_the_api(client_for, api_for, clinician, site_a,
                                                                        site_b):
    PatientFactory(site=site_a, subject_id="01-001")
    PatientFactory(site=site_b, subject_id="02-001")
    response = client_for(clinician).get(reverse("safety:ae_list"), {"site": site_b.pk})
    assert response.status_code == 200 and "site" in response.context["filter_errors"]
    response = api_for(clinician).get("/api/v1/adverse-events/", {"site": site_b.code})
    assert response.status_code == 400 and codes_of(response) == {"site": ["invalid"]}
    assert api_for(clinician).get("/api/v1/adverse-events/", {"site": site_a.code}).status_code == 200


def test_the_ae_filters_are_the_same_on_the_listing_the_list_and_the_api(client_for, api_for, monitor, site_a):
    patient = PatientFactory(site=site_a, subject_id="01-001")
    related = _event(patient, relatedness="probable", serious=True, serious_hospitalisation=True, grade=3)
    _event(patient)
    params = {"relatedness": "probable", "serious": "1"}
    listing = client_for(monitor).get(reverse("oversight:ae_listing"), params)
    assert [e.pk for e in listing.context["adverse_events"]] == [related.pk]
    assert [e.pk for e in client_for(monitor).get(reverse("safety:ae_list"), params).context["adverse_events"]] == [
        related.pk]
    results = api_for(monitor).get("/api/v1/adverse-events/", {"relatedness": "probable", "serious": "true"})
    assert [e["id"] for e in results.json()["results"]] == [related.pk]
    # serious=0: the non-serious ones (the AE list page refused "0" before)
    assert client_for(monitor).get(reverse("safety:ae_list"), {"serious": "0"}).context["paginator"].count == 1


@pytest.mark.parametrize("params, code", [({"relatedness": "nope"}, "invalid"), ({"grade": ""}, "invalid"),
                                          ({"review": "maybe"}, "invalid"), ({"patient": "\u0661"}, "invalid")])
@pytest.mark.req("URS-SEC-002")
def test_the_api_answers_an_invalid_filter_with_a_field_error(api_for, clinician, params, code):
    response = api_for(clinician).get("/api/v1/adverse-events/", params)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid" and codes_of(response) == {name: [code] for name in params}


@pytest.mark.req("URS-DOC-002")
def test_the_schema_documents_the_filters(api_for, clinician):
    schema = yaml.safe_load(api_for(clinician).get("/api/v1/schema/").content)
    params = {p["name"]: p for p in schema["paths"]["/api/v1/adverse-events/"]["get"]["parameters"]}
    assert set(AdverseEventFilterSet.base_filters) <= set(params)
    assert params["relatedness"]["schema"]["enum"]
    assert params["grade"]["schema"] == {"type": "integer", "enum": [1, 2, 3, 4, 5]}
    assert params["serious"]["schema"] == {"type": "boolean"}
    assert params["site"]["schema"]["type"] == "string" and params["site"]["description"]  # the code
    assert params["site"]["schema"]["pattern"] == "^[0-9]{2}$"
    assert params["patient"]["schema"]["minimum"] == 1
    for path in ("/api/v1/patients/", "/api/v1/deviations/", "/api/v1/data-queries/"):
        names = {p["name"] for p in schema["paths"][path]["get"]["parameters"]}
        assert {"site", "page", "ordering"} <= names, path
