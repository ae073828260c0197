"""Role x route matrix, generated from the URLconf.

``MATRIX`` says, for every route and method, what each of the five roles gets
(the objects in the URL are the clinician's own site's, so a refusal here is a
refusal by role, not by site; site isolation is ``test_site_isolation``).
Every route the resolver knows must be in the table (the whole Django admin is
one entry: ``AdminSite`` guards all its URLs), so a new view fails the suite
until somebody decides who may use it.

Outcomes (``conftest.outcome``):

- ``Y``: allowed: 200 / 201, a redirect elsewhere than the login page, or a
  400 / 428 refusal of the empty test input after the permission check;
- ``N``: 403;
- ``"404"``, ``"405"``, ``"login"``: that answer for this role.
"""

import pytest
from django.test import Client

from .conftest import all_routes, outcome, route_url

pytestmark = pytest.mark.django_db

ROLES = ("clinician", "investigator", "coordinator", "monitor", "admin")
Y, N = "ok", "403"
ALL = (Y, Y, Y, Y, Y)
ENTRY = (Y, Y, N, N, Y)  # data entry: site staff and admins, never coordinators or monitors
ADMIN_ONLY = (N, N, N, N, Y)
MONITORING = (N, N, N, Y, Y)  # monitors and admins: audit trail, SDV, queries, AE review
SITE_STAFF = (Y, Y, N, N, N)  # the sites answer their data queries (not the admin: issue 12)


def every(outcome_):
    return (outcome_,) * 5


MATRIX = {
    #                                        clinician investigator coordinator monitor admin
    # --- entry points -------------------------------------------------------------------------
    "home":                                {"GET": ALL, "POST": ALL},
    "healthz":                             {"GET": ALL, "POST": ALL},
    "favicon":                             {"GET": ALL, "POST": ALL},
    "javascript-catalog":                  {"GET": ALL, "POST": every("405")},
    "accounts:profile":                    {"GET": ALL, "POST": ALL},  # one's own language
    "accounts:set_language":               {"GET": every("405"), "POST": ALL},
    "accounts:login":                      {"GET": ALL, "POST": ALL},  # logged in: on to the home page
    "accounts:logout":                     {"GET": every("405"), "POST": every("login")},
    "accounts:password_change":            {"GET": ALL, "POST": ALL},  # one's own password
    "accounts:security":                   {"GET": ALL, "POST": every("405")},
    "accounts:two_factor_verify":          {"GET": ALL, "POST": ALL},  # nothing pending: on to the home page
    "accounts:two_factor_setup":           {"GET": ALL, "POST": ALL},  # anybody may enrol
    "accounts:two_factor_remove":          {"GET": every("405"), "POST": ALL},
    "oversight:dashboard":                 {"GET": ALL},
    "api:token":                           {"GET": ALL, "POST": ALL},  # every study role may hold a token
    # A background job's file (the world's is the monitor's who raised the query): its owner's only.
    "jobs:file_status":                    {"GET": every("404")},
    "jobs:file_cancel":                    {"GET": every("404"), "POST": every("404")},
    "jobs:file_download":                  {"GET": every("404")},
    # --- patients -------------------------------------------------------------------------------
    "patients:patient_list":               {"GET": ALL},
    "patients:patient_detail":             {"GET": ALL},
    "patients:patient_create":             {"GET": ENTRY, "POST": ENTRY},
    "patients:patient_update":             {"GET": ENTRY, "POST": ENTRY},
    "patients:patient_withdraw":           {"GET": ENTRY, "POST": ENTRY},
    "patients:diagnosis_edit":             {"GET": ENTRY, "POST": ENTRY},
    "patients:malignancy_create":          {"GET": ENTRY, "POST": ENTRY},
    "patients:malignancy_update":          {"GET": ENTRY, "POST": ENTRY},
    "patients:malignancy_void":            {"GET": ENTRY, "POST": ENTRY},
    # --- visits ---------------------------------------------------------------------------------
    "visits:timeline":                     {"GET": ALL},
    "visits:deviation_list":               {"GET": ALL},
    "visits:cycle_create":                 {"GET": ENTRY, "POST": ENTRY},
    "visits:cycle_update":                 {"GET": ENTRY, "POST": ENTRY},
    "visits:cycle_preview":                {"GET": ENTRY},  # the record-cycle page's live preview
    "visits:end_of_treatment":             {"GET": ENTRY, "POST": ENTRY},
    "visits:missedcycle_create":           {"GET": ENTRY, "POST": ENTRY},  # issue 15: a month without infusion
    "visits:missedcycle_void":             {"GET": ENTRY, "POST": ENTRY},
    # The read-only case report forms (issue 14): every role that views, locked or not.
    "visits:cycle_detail":                 {"GET": ALL},
    "visits:end_of_treatment_detail":      {"GET": ALL},
    "casebook:casebook_detail":            {"GET": ALL},
    # --- safety ---------------------------------------------------------------------------------
    "safety:ae_list":                      {"GET": ALL},
    "safety:ae_create":                    {"GET": ENTRY, "POST": ENTRY},
    "safety:ae_update":                    {"GET": ENTRY, "POST": ENTRY},
    "safety:ae_void":                      {"GET": ENTRY, "POST": ENTRY},
    "safety:ae_detail":                    {"GET": ALL},
    "safety:ae_follow_up":                 {"GET": ENTRY, "POST": ENTRY},
    "medications:medication_list":         {"GET": ALL},
    "medications:medication_create":       {"GET": ENTRY, "POST": ENTRY},
    "medications:medication_update":       {"GET": ENTRY, "POST": ENTRY},
    "medications:medication_void":         {"GET": ENTRY, "POST": ENTRY},
    # --- report and exports: coordinators read and export; monitors read the report ---------------
    "reporting:report":                    {"GET": (N, N, Y, Y, Y)},
    "exchange:exports":                   {"GET": (N, N, Y, N, Y)},
    "exchange:export_download":           {"GET": (N, N, Y, N, Y)},
    "exchange:export_job_start":          {"GET": (N, N, "405", N, "405"), "POST": (N, N, Y, N, Y)},
    # The lab-results import (issue 17): who enters assessments; a file's token is its uploader's
    # session's only (an unknown one: 404 after the role check).
    "exchange:lab_import":                 {"GET": ENTRY, "POST": ENTRY},
    "exchange:lab_import_review":          {"GET": ("404", "404", N, N, "404")},
    "exchange:lab_import_commit":          {"GET": ("404", "404", N, N, "404"), "POST": ("404", "404", N, N, "404")},
    # --- oversight: signatures (investigators), locks (admins), SDV and queries (monitors) ---------
    # Investigators only: an admin does not sign "reviewed and approved" (issue 12).
    "oversight:cycle_sign":                {"GET": (N, Y, N, N, N), "POST": (N, Y, N, N, N)},
    "oversight:casebook_sign":             {"GET": (N, Y, N, N, N), "POST": (N, Y, N, N, N)},
    "oversight:cycle_lock":                {"GET": ADMIN_ONLY, "POST": ADMIN_ONLY},
    "oversight:cycle_unlock":              {"GET": ADMIN_ONLY, "POST": ADMIN_ONLY},
    "oversight:casebook_lock":             {"GET": ADMIN_ONLY, "POST": ADMIN_ONLY},
    "oversight:casebook_unlock":           {"GET": ADMIN_ONLY, "POST": ADMIN_ONLY},
    "oversight:cycle_verify":              {"GET": MONITORING, "POST": MONITORING},
    "oversight:query_list":                {"GET": ALL},
    "oversight:cycle_list":                {"GET": ALL},  # the dashboard's work lists
    "oversight:casebook_list":             {"GET": ALL},
    # Issue 17: completeness per form and field (counts scoped to one's sites).
    "oversight:completeness":              {"GET": ALL},
    # Issue 15: the due-and-overdue list (scoped to one's sites); one's own calendar feed page; the
    # feed itself needs no session (the token is the credential): an unknown token is 404 for all.
    "oversight:schedule_list":             {"GET": ALL},
    "oversight:calendar":                  {"GET": ALL, "POST": ALL},
    "oversight:calendar_feed":             {"GET": every("404"), "POST": every("405")},
    "oversight:query_create":              {"GET": MONITORING, "POST": MONITORING},
    "oversight:query_detail":              {"GET": ALL, "POST": ALL},  # each action checks its permission
    "oversight:query_answer":              {"GET": ("405", "405", N, N, N), "POST": SITE_STAFF},  # one step, from the field
    "oversight:record_verify":             {"GET": (N, N, N, "405", "405"), "POST": MONITORING},  # a form or one field
    # Issue 17: the edit checks' page (every role; counts scoped to one's sites); switching one: admins.
    "editchecks:check_list":               {"GET": ALL},
    "editchecks:check_switch":             {"GET": ADMIN_ONLY, "POST": ADMIN_ONLY},
    "oversight:audit_trail":               {"GET": MONITORING},
    "oversight:audit_export":              {"GET": MONITORING},
    "oversight:signature_check":           {"GET": MONITORING},
    # PDF casebooks (issue 15): whoever views the casebook; the close-out archive: admins.
    "oversight:casebook_pdf":              {"GET": ALL, "POST": ALL},
    "oversight:closeout_archive":          {"GET": ADMIN_ONLY, "POST": ADMIN_ONLY},
    # --- oversight: adverse-event review -------------------------------------------------------------
    "oversight:ae_queue":                  {"GET": MONITORING},
    "oversight:ae_listing":                {"GET": ALL},
    "oversight:ae_listing_export":         {"GET": ALL},  # the listing's rows, scoped to one's sites
    "oversight:ae_detail":                 {"GET": ALL},
    "oversight:ae_acknowledge":            {"GET": (N, N, N, "405", "405"), "POST": MONITORING},
    "oversight:ae_review":                 {"GET": (N, N, N, "405", "405"), "POST": MONITORING},
    "oversight:ae_follow_up":              {"GET": ("405", "405", N, N, "405"), "POST": ENTRY},
    # --- API: reads for every role (scoped), writes as on the pages -----------------------------------
    "api:root":                            {"GET": ALL},
    "api:schema":                          {"GET": ALL},
    "api:docs":                            {"GET": ALL},
    "api:redoc":                           {"GET": ALL},
    "api:api-patients-list":               {"GET": ALL, "POST": ENTRY},
    "api:api-patients-detail":             {"GET": ALL, "PATCH": ENTRY},
    "api:api-patients-withdraw":           {"POST": ENTRY},
    "api:api-diagnoses-list":              {"GET": ALL, "POST": ENTRY},
    "api:api-diagnoses-detail":            {"GET": ALL, "PATCH": ENTRY},
    "api:api-malignancies-list":           {"GET": ALL, "POST": ENTRY},
    "api:api-malignancies-detail":         {"GET": ALL, "PATCH": ENTRY},
    "api:api-malignancies-void":           {"POST": ENTRY},
    "api:api-cycles-list":                 {"GET": ALL, "POST": ENTRY},
    "api:api-cycles-detail":               {"GET": ALL, "PATCH": ENTRY},
    "api:api-assessments-list":            {"GET": ALL, "POST": ENTRY},
    "api:api-assessments-detail":          {"GET": ALL, "PATCH": ENTRY},
    "api:api-assessments-void":            {"POST": ENTRY},
    "api:api-infusions-list":              {"GET": ALL, "POST": ENTRY},
    "api:api-infusions-detail":            {"GET": ALL, "PATCH": ENTRY},
    "api:api-adverse-events-list":         {"GET": ALL, "POST": ENTRY},
    "api:api-adverse-events-detail":       {"GET": ALL, "PATCH": ENTRY},
    "api:api-adverse-events-void":         {"POST": ENTRY},
    "api:api-medications-list":            {"GET": ALL, "POST": ENTRY},
    "api:api-medications-detail":          {"GET": ALL, "PATCH": ENTRY},
    "api:api-medications-void":            {"POST": ENTRY},
    "api:api-deviations-list":             {"GET": ALL},  # written by the rules only
    "api:api-deviations-detail":           {"GET": ALL},
    "api:api-data-queries-list":           {"GET": ALL, "POST": MONITORING},
    "api:api-data-queries-detail":         {"GET": ALL},
    "api:api-data-queries-answer":         {"POST": SITE_STAFF},  # the sites answer
    "api:api-data-queries-close":          {"POST": MONITORING},
    "api:api-data-queries-reopen":         {"POST": MONITORING},
    "api:api-missed-cycles-list":          {"GET": ALL, "POST": ENTRY},
    "api:api-missed-cycles-detail":        {"GET": ALL, "PATCH": ENTRY},
    "api:api-missed-cycles-void":          {"POST": ENTRY},
    "api/v1/^.*$":                         {"GET": every("404"), "POST": every("404")},
    # --- notifications: every user's own notices and e-mail preferences ---------------------------------
    "notifications:notice_list":           {"GET": ALL},
    "notifications:notice_read":           {"GET": every("405"), "POST": ALL},  # one's own, or all of one's own
    "notifications:unread_count":          {"GET": ALL},
    "notifications:preferences":           {"GET": ALL, "POST": ALL},
    # --- the Django admin: staff only; AdminSite guards every URL (see ADMIN_SITE) ---------------------
    "admin:login":                         {"GET": ALL, "POST": ALL},  # a login form ("not authorised")
    "admin:logout":                        {"GET": (Y, Y, Y, Y, "405"), "POST": ALL},  # non-staff: to /admin/
    "admin:*":                             "ADMIN_SITE",
}


def expectation(route):
    if route.key in MATRIX or not route.is_admin:
        return MATRIX.get(route.key)
    return MATRIX["admin:*"]


def methods_of(route):
    if route.is_admin and route.key not in MATRIX:
        return ("GET", "POST")
    return route.methods


def unclassified():
    """Routes (and methods) of the URLconf that MATRIX does not mention."""
    missing = []
    for route in all_routes():
        rows = expectation(route)
        if rows is None:
            missing.append(f"{route.key} ({route.pattern})")
        elif rows != "ADMIN_SITE":
            missing.extend(f"{method} {route.key}" for method in route.methods if method not in rows)
    return missing


@pytest.mark.req("URS-AUT-001")
def test_every_route_and_method_is_classified():
    missing = unclassified()
    known = {r.key for r in all_routes()}
    stale = [key for key in MATRIX if key != "admin:*" and key not in known]
    assert not missing, "Routes nobody classified (add them to MATRIX):\n" + "\n".join(missing)
    assert not stale, f"MATRIX names routes that no longer exist: {stale}"
    assert len(MATRIX) > 70


@pytest.mark.urls("tests.security.leaky_urls")
@pytest.mark.req("URS-AUT-001")
def test_a_new_route_must_be_classified():
    missing = unclassified()
    assert any(m.startswith("leak ") for m in missing), missing
    assert any(m.startswith("api-leak ") for m in missing), missing


@pytest.fixture
def users(clinician, investigator, coordinator, monitor, admin_user):
    return dict(zip(ROLES, (clinician, investigator, coordinator, monitor, admin_user)))


CLINICAL_APPS = ("patients", "visits", "safety", "oversight", "reporting")


def _admin_site_ok(route, role, got):
    if role != "admin":
        return got == "login"
    if route.name.endswith("_delete") and route.name.split(":")[1].split("_")[0] in CLINICAL_APPS:
        return got == "403"  # nothing clinical is ever hard-deleted, not even in the admin
    # Staff: the page, or the admin's own refusal of what the model admin forbids.
    return got in ("ok", "403", "404")


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.req("URS-AUT-001")
def test_role_matrix(role, users, world_a):
    user = users[role]
    client = Client()
    client.force_login(user)
    index = ROLES.index(role)
    problems, checked = [], 0
    for route in all_routes():
        rows = expectation(route)
        assert rows is not None, f"{route.key} is not in MATRIX"
        url = route_url(route, world_a)
        for method in methods_of(route):
            if route.is_admin and role == "admin" and method != "GET":
                continue  # staff POSTs to the admin would change the data under the walk
            response = client.generic(method, url, content_type="application/json" if route.is_api else "")
            checked += 1
            got = outcome(response)
            if rows == "ADMIN_SITE":
                ok, want = _admin_site_ok(route, role, got), "admin-site rule"
            else:
                want = rows[method][index]
                ok = got == want
            if not ok:
                problems.append(f"{method} {url} ({route.key}): want {want}, got {got} ({response.status_code})")
            if route.key == "accounts:logout" and method == "POST":
                client.force_login(user)  # the walk goes on logged in
    assert checked > 150
    assert not problems, f"{role}:\n" + "\n".join(problems)


#: What a role-less superuser may still reach: the entry points, its dashboard (empty),
#: the API's root and documentation (they show no data), and the Django admin.
SUPERUSER_OPEN = {"home", "healthz", "favicon", "javascript-catalog", "accounts:profile", "accounts:set_language", "accounts:login", "accounts:logout", "oversight:dashboard",
                  "api:root", "api:schema", "api:docs", "api:redoc", "admin:login", "admin:logout",
                  # Every account's own security: its password and two-factor authenticator.
                  "accounts:password_change", "accounts:security", "accounts:two_factor_verify",
                  "accounts:two_factor_setup", "accounts:two_factor_remove",
                  # Every account's own notices (no study data: what was sent to it) and preferences.
                  "notifications:notice_list", "notifications:notice_read", "notifications:unread_count",
                  "notifications:preferences"}


@pytest.mark.req("URS-ACC-003")
def test_a_superuser_without_a_role_is_refused_every_study_route(superuser, world_a):
    """Issue 12: ``is_superuser`` grants nothing in the study. A break-glass
    superuser without a membership gets a 403 or a 404 (or 405) on every page and
    API route that reads or writes study data, the same as a user with no role."""
    client = Client()
    client.force_login(superuser)
    allowed = []
    for route in all_routes():
        if route.is_admin or route.key in SUPERUSER_OPEN or route.key == "api/v1/^.*$":
            continue
        url = route_url(route, world_a)
        for method in route.methods:
            got = outcome(client.generic(method, url, content_type="application/json" if route.is_api else ""))
            if got not in ("403", "404", "405"):
                allowed.append(f"{method} {url} ({route.key}): {got}")
    assert not allowed, "A role-less superuser reached:\n" + "\n".join(allowed)
