"""Who sees and changes what: the pages' permissions and site scope."""

import pytest

from patients.models import Patient
from tests.api.conftest import codes_of
from tests.patients.factories import MalignancyFactory, PatientFactory
from tests.visits.factories import full_cycle

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_sites(site_a, site_b):
    mine = PatientFactory(site=site_a, subject_id="01-001")
    theirs = PatientFactory(site=site_b, subject_id="02-001")
    return mine, theirs


@pytest.mark.req("URS-ACC-002")
def test_a_clinician_sees_only_own_site(api_for, clinician, two_sites):
    mine, theirs = two_sites
    client = api_for(clinician)
    listed = client.get("/api/v1/patients/").json()
    assert [p["subject_id"] for p in listed["results"]] == ["01-001"]
    assert client.get(f"/api/v1/patients/{mine.pk}/").status_code == 200
    response = client.get(f"/api/v1/patients/{theirs.pk}/")
    assert response.status_code == 404 and response.json()["code"] == "not_found"
    response = client.patch(f"/api/v1/patients/{theirs.pk}/", {"sex": "M", "version": 1, "change_reason": "x"},
                            format="json")
    assert response.status_code == 404
    # A site outside the user's is a field error, as on the pages (the filter never widens the scope).
    response = client.get("/api/v1/patients/", {"site": theirs.site.code})
    assert response.status_code == 400 and codes_of(response) == {"site": ["invalid"]}
    assert "results" not in response.json()


def test_child_records_of_another_site_are_404_and_unlisted(api_for, clinician, two_sites):
    mine, theirs = two_sites
    full_cycle(mine)
    cycle = full_cycle(theirs)
    malignancy = MalignancyFactory(patient=theirs)
    client = api_for(clinician)
    for url in (f"/api/v1/cycles/{cycle.pk}/", f"/api/v1/assessments/{cycle.assessment.pk}/",
                f"/api/v1/infusions/{cycle.infusions.first().pk}/", f"/api/v1/malignancies/{malignancy.pk}/"):
        assert client.get(url).status_code == 404, url
    assert client.post(f"/api/v1/malignancies/{malignancy.pk}/void/", {"void_reason": "x", "version": 1},
                       format="json").status_code == 404
    for collection, count in (("cycles", 1), ("assessments", 1), ("infusions", 2), ("malignancies", 0)):
        assert client.get(f"/api/v1/{collection}/").json()["count"] == count, collection


def test_study_wide_roles_see_every_site(api_for, coordinator, monitor, admin_user, two_sites):
    for user in (coordinator, monitor, admin_user):
        assert api_for(user).get("/api/v1/patients/").json()["count"] == 2


@pytest.mark.req("URS-AUT-003")
def test_a_coordinator_reads_but_never_writes(api_for, coordinator, two_sites, site_a):
    mine, _ = two_sites
    client = api_for(coordinator)
    assert client.get(f"/api/v1/patients/{mine.pk}/").status_code == 200
    response = client.post("/api/v1/patients/", {"subject_id": "01-009", "site": site_a.pk}, format="json")
    assert response.status_code == 403 and response.json()["code"] == "permission_denied"
    response = client.put(f"/api/v1/patients/{mine.pk}/", {"sex": "M", "version": 1, "change_reason": "x"},
                          format="json")
    assert response.status_code == 403
    assert client.patch(f"/api/v1/patients/{mine.pk}/", {}, format="json").status_code == 403
    malignancy = MalignancyFactory(patient=mine)
    assert client.post(f"/api/v1/malignancies/{malignancy.pk}/void/", {}, format="json").status_code == 403
    assert client.post(f"/api/v1/patients/{mine.pk}/withdraw/", {}, format="json").status_code == 403
    assert Patient.objects.count() == 2 and not malignancy.__class__.objects.get().is_voided


@pytest.mark.req("URS-AUT-003")
def test_a_monitor_reads_and_raises_queries_but_does_not_enter_data(api_for, monitor, two_sites):
    mine, _ = two_sites
    client = api_for(monitor)
    assert client.get("/api/v1/deviations/").status_code == 200
    assert client.post("/api/v1/cycles/", {"patient": mine.pk}, format="json").status_code == 403


def test_deviations_are_read_only(api_for, clinician, two_sites):
    mine, _ = two_sites
    client = api_for(clinician)
    assert client.post("/api/v1/deviations/", {}, format="json").status_code == 405


def test_invalid_filters_are_400_not_500(api_for, clinician, two_sites):
    client = api_for(clinician)
    assert codes_of(client.get("/api/v1/patients/", {"site": "abc"})) == {"site": ["invalid"]}
    assert codes_of(client.get("/api/v1/patients/", {"status": "zombie"})) == {"status": ["invalid"]}
    assert codes_of(client.get("/api/v1/deviations/", {"open": "maybe"})) == {"open": ["invalid"]}
    assert codes_of(client.get("/api/v1/deviations/", {"kind": ""})) == {"kind": ["invalid"]}
    assert client.get("/api/v1/patients/", {"search": ""}).json()["count"] == 1
    response = client.post("/api/v1/patients/1.5/void/", {}, format="json")  # no CSRF page, no HTML
    assert response.status_code == 404 and response.json()["code"] == "not_found"
    assert codes_of(client.get("/api/v1/patients/", {"site": "99999999999999999"})) == {"site": ["invalid"]}
    assert client.get("/api/v1/patients/", {"page": "abc"}).status_code == 404
    assert client.get("/api/v1/patients/", {"page": "9"}).status_code == 404
    assert client.get("/api/v1/patients/", {"page": ""}).status_code == 404
    assert client.get("/api/v1/patients/", {"ordering": "nonsense"}).status_code == 200
    assert client.get("/api/v1/patients/99999999999999999999999/").status_code == 404
    assert client.get("/api/v1/patients/abc/").status_code == 404
    response = client.get("/api/v1/patients/1.5/")  # not even routed: still the API's JSON 404
    assert response.status_code == 404 and response.json()["code"] == "not_found"
    assert codes_of(client.get("/api/v1/patients/", {"page_size": "null"})) == {"page_size": ["invalid"]}
    assert codes_of(client.get("/api/v1/patients/", {"page_size": "0"})) == {"page_size": ["invalid"]}
    response = client.options("/api/v1/patients/")
    assert response.status_code == 405 and "OPTIONS" not in response["Allow"]


def test_filters_and_ordering(api_for, admin_user, site_a, site_b):
    PatientFactory(site=site_a, subject_id="01-002", status="screening")
    PatientFactory(site=site_a, subject_id="01-001")
    PatientFactory(site=site_b, subject_id="02-001")
    client = api_for(admin_user)

    def ids(**params):
        return [p["subject_id"] for p in client.get("/api/v1/patients/", params).json()["results"]]

    assert ids() == ["01-001", "01-002", "02-001"]
    assert ids(site=site_b.code) == ["02-001"]
    assert ids(status="screening") == ["01-002"]
    assert ids(search="01-") == ["01-001", "01-002"]
    assert ids(ordering="-subject_id") == ["02-001", "01-002", "01-001"]
    assert ids(diagnosis="none") == ["01-001", "01-002", "02-001"]


def test_pagination(api_for, admin_user, site_a):
    for n in range(1, 4):
        PatientFactory(site=site_a, subject_id=f"01-{n:03d}")
    client = api_for(admin_user)
    page = client.get("/api/v1/patients/", {"page_size": 2}).json()
    assert page["count"] == 3 and len(page["results"]) == 2 and page["next"]
    page2 = client.get("/api/v1/patients/", {"page_size": 2, "page": 2}).json()
    assert [p["subject_id"] for p in page2["results"]] == ["01-003"]
    assert len(client.get("/api/v1/patients/", {"page_size": 10000}).json()["results"]) == 3  # capped at 200


@pytest.mark.parametrize("value", ["\u00b2", "\u0661", "\uff11", "\U0001d7cf", "1\x00"])
@pytest.mark.req("URS-SEC-002")
def test_non_ascii_digits_in_a_filter_are_a_400(api_for, clinician, two_sites, value):
    """Issue 12, finding 7: filters are parsed by form fields (ASCII digits only)."""
    client = api_for(clinician)
    for url, param in [("/api/v1/patients/", "site"), ("/api/v1/adverse-events/", "patient"),
                       ("/api/v1/deviations/", "patient"), ("/api/v1/data-queries/", "patient")]:
        response = client.get(url, {param: value})
        assert response.status_code == 400, (url, param)
        assert codes_of(response) == {param: ["invalid"]}
    assert client.get("/api/v1/patients/", {"page": value}).status_code == 404
    assert codes_of(client.get("/api/v1/patients/", {"page_size": value})) == {"page_size": ["invalid"]}
    assert codes_of(client.get("/api/v1/patients/", {"search": f"01{value}\x00"})) == {"search": ["invalid"]}
