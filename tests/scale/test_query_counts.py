"""Issue 8: each page, API list and export runs the same number of queries at 10
and at 1,000 patients (a synthetic cohort from ``generate_cohort``), pinned exactly."""

from collections import Counter

import pytest

from tests.scale.conftest import LARGE, SMALL
from tests.scale.pages import NAMES

pytestmark = pytest.mark.django_db  # the test database is set up for marked tests only

#: Queries per request, whatever the cohort size (login, session and permission
#: queries included, the content-type cache cold). Permissions are one query, the
#: permissions of the user's roles (issue 12: no longer user perms + group perms,
#: so one less than before); the admin of the audit trail is no longer a superuser,
#: so that page has the permission query it skipped before (one more).
EXPECTED = {
    "patient-list": 8, "patient-detail": 9, "timeline": 14, "deviation-list": 8,  # timeline: + missed cycles
    "report": 19,  # + the data cut (one query) and the sites the report states as its filter; + missed cycles; + medications and missing values (issue 17)
    # The record-cycle page: the previous cycle with its assessment, and its infusions (issue 14).
    "cycle-entry": 8, "cycle-preview": 6,
    "audit-trail": 15,  # one patient's trail; as admin, with the banner of locked accounts (1 query)
    # Issue 14: the edit forms with the review state (3 queries) beside the fields; the raise-a-query
    # page opened from a field.
    "patient-edit": 10, "cycle-edit": 15, "query-raise-field": 10,  # + the follow-ups of the AEs (one query)
    "casebook": 26, "cycle-view": 15,  # the read-only forms (issue 14); casebook: + missed cycles and their history
    # Issue 15: the due-and-overdue list (study-wide; a clinician's site, one status) and the calendar
    # feed (token and user, memberships, the planned cycles, the access event).
    "schedule-list": 8, "schedule-list-clinician": 7, "calendar-feed": 4, "api:missed-cycles": 4,
    # Issue 14: the dashboards (each section a count and its first rows) and the lists they link to.
    "dashboard-clinician": 8, "dashboard-monitor": 12, "cycle-list": 9, "casebook-list": 9, "query-list": 7,
    "patients-overdue": 8, "ae-list": 9,
    "notice-list": 8, "notice-unread": 4,  # issue 15: a user's notices (50 a page), the navigation's count
    "casebook-pdf": 6, "closeout": 7,  # issue 15: the PDF casebooks made, the close-out archives
    "exports-jobs": 7,  # issue 15: the user's background exports (the newest 20 and how many)
    "completeness": 9,  # issue 17: one aggregate per form (cycles, assessments, infusions, diagnoses)
    # Issue 17: the edit checks (their switches, their queries counted by check and status, the last nightly run).
    "edit-checks": 8,
    "api:patients": 5, "api:diagnoses": 5, "api:malignancies": 5, "api:cycles": 7, "api:assessments": 5,
    "api:infusions": 5, "api:adverse-events": 5, "api:deviations": 5,
    "api:data-queries": 4,
    # Issue 17: a patient's concomitant medications (list, new form) and their API list; the report
    # (+ one query: the medications of interest), the casebook (+ the medications and their history)
    # and each export (+ the medications table / CM domain / MedicationStatements / F.MEDICATIONS).
    "medication-list": 6, "medication-create": 5, "api:medications": 5,  # the generated cohort has no data query: no messages prefetch
    # Exports through the download view, body consumed (ODM: one patient chunk, see conftest).
    # Issue 15: + the missed_cycles table (its rows in CSV / XLSX; its count in every export's log).
    "export:csv": 25, "export:xlsx": 25, "export:odm": 36, "export:sdtm": 32, "export:fhir": 24,
}


def _diff(small, large):
    """The queries one run has and the other has not, for the failure message."""
    only_large = list((Counter(large.sql) - Counter(small.sql)).elements())
    only_small = list((Counter(small.sql) - Counter(large.sql)).elements())
    return "\n".join(["only at the large size:"] + [q[:300] for q in only_large[:10]]
                     + ["only at the small size:"] + [q[:300] for q in only_small[:10]])


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.req("URS-USR-002")
def test_query_count_is_constant(scale, name):
    errors = {k: v for k, v in scale.errors.items() if k.startswith(f"{name}@")}
    assert not errors, errors
    small, large = scale.small[name], scale.large[name]
    assert small.detail.get("status") == large.detail.get("status") == 200, (small.detail, large.detail)
    assert small.count == large.count, f"{name}: {small.count} queries at {SMALL}, {large.count} at " \
                                       f"{LARGE}; extra:\n{_diff(small, large)}"
    assert large.count == EXPECTED.get(name), f"{name}: {large.count} queries"


@pytest.mark.parametrize("name", NAMES)
def test_query_count_is_the_same_in_french(scale, name):
    """Issue 16: a page in French runs exactly the queries of the same page in English (the
    language comes from the session or the browser, never from a query). (That an export
    requested in French is the same file is tests/exchange/test_language_neutral.py's.)"""
    errors = {k: v for k, v in scale.errors.items() if k.startswith(f"{name}@")}
    assert not errors, errors
    english, french = scale.large[name], scale.french[name]
    assert french.detail.get("status") == 200, french.detail
    assert french.count == english.count, f"{name}: {french.count} queries in French, {english.count} in English"
    assert french.detail.get("rows") == english.detail.get("rows")
