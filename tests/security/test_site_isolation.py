"""A site-A clinician or investigator never sees a site-B patient: in the
pages, the API, the report (and its ``?site=`` filter) and every export
format, checked by content.

Who may export at all: coordinators and admins (``reporting.export_cohort``),
both study-wide. The report: coordinators, monitors, admins. Site staff get
403 on both (``test_role_matrix``); here the report and the exports are also
checked for a site user who *was* given those permissions, so that the day a
site role may export, the export still stops at the user's sites.
"""

import io
import json
import zipfile

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client
from rest_framework.test import APIClient

from patients.models import Patient
from exchange.exports import FORMATS
from safety.models import AdverseEvent
from visits.models import TreatmentCycle

from .conftest import API_OBJECT, QUERY, all_routes, outcome, route_url
from .test_role_matrix import MATRIX, ROLES

pytestmark = pytest.mark.django_db

SITE_ROLES = ("clinician", "investigator")


@pytest.fixture
def site_staff(clinician, investigator):
    return {"clinician": clinician, "investigator": investigator}


def logged_in(user):
    client = Client()
    client.force_login(user)
    return client


def body(response):
    """The bytes of a response; a zip (CSV tables, XLSX, SDTM) is unpacked, all members."""
    data = b"".join(response.streaming_content) if response.streaming else response.content
    if data[:4] == b"PK\x03\x04":
        archive = zipfile.ZipFile(io.BytesIO(data))
        return b"\n".join(archive.read(name) for name in archive.namelist())
    return data


def leaks(data, world_b):
    found = [s for s in (world_b.patient.subject_id, world_b.marker, world_b.site.name) if s.encode() in data]
    return found


# --- pages and API routes that name an object: site B's objects are 404 ----------------------


@pytest.mark.parametrize("role", SITE_ROLES)
@pytest.mark.req("URS-ACC-002")
def test_every_route_naming_a_site_b_object_is_404(role, site_staff, world_a, world_b):
    client = logged_in(site_staff[role])
    index = ROLES.index(role)
    problems, checked = [], 0
    for route in all_routes():
        if route.is_admin or not (route.takes_object or "{patient}" in QUERY.get(route.name, "")):
            continue
        url = route_url(route, world_b)
        for method in route.methods:
            response = client.generic(method, url, content_type="application/json" if route.is_api else "")
            checked += 1
            got = outcome(response)
            allowed_by_role = MATRIX[route.key][method][index] == "ok"
            want = ("404",) if allowed_by_role else ("403", "404")
            if got not in want:
                problems.append(f"{method} {url} ({route.key}): want {'/'.join(want)}, got {got}")
            elif leaks(body(response), world_b):
                problems.append(f"{method} {url} ({route.key}): the refusal names site B's data")
    assert checked > 50, checked
    assert not problems, "\n".join(problems)
    # Nothing of site B changed under the walk.
    world_b.patient.refresh_from_db()
    assert world_b.patient.version == 1 and world_b.patient.status == "on_study"


# --- every list, page and export a site user may open: no site-B content ---------------------

# ?search= is a part of site B's subject id: the search box echoes it, the rows must not.
FILTERS = ("", "?site={site_pk}", "?site={site_code}", "?patient={patient_pk}", "?search={subject_part}")


@pytest.mark.parametrize("role", SITE_ROLES)
@pytest.mark.req("URS-ACC-002")
def test_no_page_or_listing_shows_site_b(role, site_staff, world_a, world_b):
    client = logged_in(site_staff[role])
    index = ROLES.index(role)
    problems, pages, own_shown = [], 0, 0
    for route in all_routes():
        if route.is_admin or route.takes_object or route.key.startswith("accounts:"):
            continue
        rows = MATRIX.get(route.key)
        if not rows or "GET" not in rows or rows["GET"][index] != "ok":
            continue
        for query in FILTERS:
            url = route_url(route, world_a).split("?")[0] + query.format(
                site_pk=world_b.site.pk, site_code=world_b.site.code, patient_pk=world_b.patient.pk,
                subject_part=world_b.patient.subject_id[:4])
            response = client.get(url, follow=True)
            pages += 1
            data = body(response)
            found = leaks(data, world_b)
            if found:
                problems.append(f"GET {url} ({route.key}) shows {found}")
            own_shown += world_a.patient.subject_id.encode() in data
    assert pages > 100, pages
    assert own_shown > 30, "the check must see site A's data where site B's would be"
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("role", SITE_ROLES)
@pytest.mark.req("URS-ACC-002")
def test_api_lists_never_hold_site_b_records(role, site_staff, world_a, world_b):
    client = APIClient()
    client.force_authenticate(site_staff[role])
    for collection, kind in API_OBJECT.items():
        for query in ("", f"?site={world_b.site.code}", f"?site={world_b.site.pk}", f"?patient={world_b.patient.pk}", "?page_size=200"):
            response = client.get(f"/api/v1/{collection}/{query}")
            if query.startswith("?site="):  # another site is a field error: nothing is listed
                assert response.status_code == 400 and list(response.json()["errors"]) == ["site"], collection
                assert "results" not in response.json() and not leaks(response.content, world_b), collection
                continue
            assert response.status_code == 200, (collection, query, response.status_code)
            ids = {row["id"] for row in response.json()["results"]}
            assert world_b.of(kind).pk not in ids, (collection, query)
            if not query or query == "?page_size=200":
                assert world_a.of(kind).pk in ids, (collection, "the check must see site A's record")
            assert not leaks(response.content, world_b), (collection, query)
        detail = client.get(f"/api/v1/{collection}/{world_b.of(kind).pk}/")
        assert detail.status_code == 404, collection


@pytest.mark.req("URS-ACC-002")
def test_a_site_user_cannot_write_into_site_b(clinician, world_a, world_b):
    api = APIClient()
    api.force_authenticate(clinician)
    before = (Patient.objects.count(), TreatmentCycle.objects.count(), AdverseEvent.objects.count())
    response = api.post("/api/v1/patients/", {"subject_id": "02-050", "site": world_b.site.pk}, format="json")
    assert response.status_code == 400 and "site" in response.json()["errors"]
    response = api.post("/api/v1/cycles/", {"patient": world_b.patient.pk, "start_date": "2025-04-14",
                                            "weight_kg": "70.0", "dosing_basis": "actual"}, format="json")
    assert response.status_code == 400 and "patient" in response.json()["errors"]
    response = api.post("/api/v1/adverse-events/", {"patient": world_b.patient.pk, "term": "Headache",
                                                    "onset_date": "2025-04-15", "grade": 1}, format="json")
    assert response.status_code == 400 and "patient" in response.json()["errors"]
    response = api.post("/api/v1/adverse-events/", {"patient": world_a.patient.pk, "term": "Headache",
                                                    "onset_date": "2025-04-15", "grade": 1,
                                                    "infusion": world_b.infusion.pk}, format="json")
    assert response.status_code == 400 and "infusion" in response.json()["errors"]
    response = logged_in(clinician).post("/patients/new/", {"subject_id": "02-050", "site": world_b.site.pk})
    assert response.status_code == 200 and "site" in response.context["form"].errors
    assert (Patient.objects.count(), TreatmentCycle.objects.count(), AdverseEvent.objects.count()) == before


# --- the report and the exports ---------------------------------------------------------------


def _grant(user, *codenames):
    """Give the user's roles the permissions (permissions come with roles only, issue 12)."""
    for group in Group.objects.filter(name__in=user.memberships.values("role")):
        group.permissions.add(*Permission.objects.filter(codename__in=codenames))
    return Client(), user


def _report_subjects(response):
    return sorted(o.subject_id for o in response.context["report"].patients)


def _export(client, fmt, query=""):
    response = client.get(f"/exports/download/?format={fmt}{query}")
    assert response.status_code == 200, (fmt, response.status_code)
    return body(response)


@pytest.mark.req("URS-AUT-006")
def test_site_staff_may_neither_report_nor_export(clinician, investigator, world_a, world_b):
    for user in (clinician, investigator):
        client = logged_in(user)
        for url in ("/reports/", "/reports/?site=02", "/exports/", "/exports/download/?format=csv",
                    "/exports/download/?format=fhir&site=02"):
            assert client.get(url).status_code == 403, url


def test_report_and_exports_of_a_site_user_stop_at_their_site(clinician, world_a, world_b):
    """Even given the report and export permissions, a site user's report and
    files hold their own site only, whatever ``?site=`` says."""
    client, user = _grant(clinician, "view_report", "export_cohort")
    client.force_login(user)
    for query in ("", "?site=02", "?site=01", "?site=99&diagnosis=DM"):
        response = client.get(f"/reports/{query}")
        assert response.status_code == 200
        assert "02-001" not in _report_subjects(response), query
        assert not leaks(response.content, world_b), query
    assert _report_subjects(client.get("/reports/")) == ["01-001"]
    for fmt in FORMATS:
        assert not leaks(_export(client, fmt), world_b), fmt
        # Another site's filter exports nothing (a 400 saying so), never that site's rows.
        response = client.get(f"/exports/download/?format={fmt}&site=02")
        assert response.status_code == 400, (fmt, response.status_code)
        assert not leaks(body(response), world_b), fmt
        assert b"01-001" in _export(client, fmt), fmt


def test_the_site_filter_of_report_and_exports_counts_one_site(coordinator, world_a, world_b):
    client = logged_in(coordinator)
    assert _report_subjects(client.get("/reports/")) == ["01-001", "02-001"]
    assert _report_subjects(client.get("/reports/?site=01")) == ["01-001"]
    assert _report_subjects(client.get("/reports/?site=02")) == ["02-001"]
    for fmt in FORMATS:
        everyone = _export(client, fmt)
        assert b"01-001" in everyone and b"02-001" in everyone, fmt  # the check can see a leak
        only_a = _export(client, fmt, "&site=01")
        assert b"01-001" in only_a and not leaks(only_a, world_b), fmt


def test_the_ae_listing_csv_of_a_site_user_holds_their_site_only(clinician, world_a, world_b):
    client = logged_in(clinician)
    for query in ("", f"?site={world_b.site.pk}"):
        data = body(client.get(f"/oversight/adverse-events/listing.csv{query}"))
        assert not leaks(data, world_b)
    assert world_a.marker.encode() in body(client.get("/oversight/adverse-events/listing.csv"))


def test_fhir_and_odm_exports_parse(coordinator, world_a, world_b):
    """Sanity for the content checks above: the files are what they claim."""
    client = logged_in(coordinator)
    bundle = json.loads(_export(client, "fhir", "&site=01"))
    assert bundle["resourceType"] == "Bundle"
    assert _export(client, "odm", "&site=01").lstrip().startswith(b"<?xml")
