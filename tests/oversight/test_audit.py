import csv
import io
from contextlib import contextmanager
from types import SimpleNamespace
from datetime import date, datetime, timedelta, timezone as dt_timezone

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.http import StreamingHttpResponse
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from simple_history.models import HistoricalRecords

from core.services import record_save, record_void
from oversight import audit
from oversight.models import AccessEvent, AccessKind
from exchange.services import export_cohort
from safety.models import AdverseEvent
from tests.patients.factories import MalignancyFactory, PatientFactory
from tests.visits.factories import full_cycle
from visits.models import Infusion

pytestmark = pytest.mark.django_db

TRAIL = reverse("oversight:audit_trail")
EXPORT = reverse("oversight:audit_export")


def _new_patient(site, user, subject_id):
    return record_save(instance=PatientFactory.build(site=site, subject_id=subject_id), user=user)


def _correct(instance, user, reason, **values):
    for name, value in values.items():
        setattr(instance, name, value)
    return record_save(instance=instance, reason=reason, user=user)


def _entries(response):
    return response.context["entries"]


def _csv(response):
    assert isinstance(response, StreamingHttpResponse)
    text = b"".join(response.streaming_content).decode("utf-8")
    return list(csv.DictReader(io.StringIO(text)))


# Access -------------------------------------------------------------------------------------

@pytest.mark.parametrize("who", ["admin_user", "monitor"])
@pytest.mark.req("URS-AUD-002")
def test_admins_and_monitors_read_the_trail(request, client_for, who):
    user = request.getfixturevalue(who)
    client = client_for(user)
    response = client.get(TRAIL)
    assert response.status_code == 200
    assert response.templates[0].name == "oversight/audit_trail.html"
    assert client.get(EXPORT).status_code == 200


@pytest.mark.parametrize("who", ["clinician", "investigator", "coordinator"])
@pytest.mark.req("URS-AUD-002")
def test_other_roles_are_refused(request, client_for, who):
    client = client_for(request.getfixturevalue(who))
    assert client.get(TRAIL).status_code == 403
    assert client.get(EXPORT).status_code == 403
    assert not AccessEvent.objects.filter(kind=AccessKind.AUDIT_EXPORT).exists()


def test_anonymous_is_sent_to_login(client):
    response = client.get(TRAIL)
    assert response.status_code == 302 and reverse("accounts:login") in response["Location"]


# What the trail shows ------------------------------------------------------------------------

@pytest.mark.req("URS-AUD-002")
def test_a_correction_shows_field_old_new_and_reason(client_for, monitor, clinician, site_a):
    patient = _new_patient(site_a, clinician, "01-001")
    _correct(patient, clinician, "Wrong date", consent_date=date(2025, 3, 2), sex="M")
    response = client_for(monitor).get(TRAIL, {"patient": "01-001", "action": "change"})
    (entry,) = _entries(response)
    assert (entry.user, entry.subject_id, entry.record_type, entry.record_label) == (
        clinician, "01-001", "Patient", "01-001")
    assert entry.action == "change" and entry.reason == "Wrong date"
    assert {(c.label, c.old, c.new) for c in entry.changes} == {
        ("Date of informed consent", "2025-03-01", "2025-03-02"), ("Sex", "Female", "Male")}
    content = response.content.decode()
    assert "Date of informed consent" in content and "2025-03-02" in content and "Wrong date" in content


def test_a_creation_lists_the_values_entered(client_for, monitor, clinician, site_a):
    _new_patient(site_a, clinician, "01-001")
    (entry,) = _entries(client_for(monitor).get(TRAIL, {"patient": "01-001"}))
    assert entry.action == "create" and entry.reason == ""
    values = {c.label: (c.old, c.new) for c in entry.changes}
    assert values["Sex"] == ("—", "Female") and values["Active, recent inflammatory myopathy"] == ("—", "Yes")
    assert "Date of birth" not in values  # empty values are not listed


@pytest.mark.req("URS-AUD-002")
def test_a_void_is_its_own_action(client_for, monitor, clinician, site_a):
    patient = _new_patient(site_a, clinician, "01-001")
    malignancy = MalignancyFactory(patient=patient)
    record_void(instance=malignancy, reason="Entered in error", expected_version=malignancy.version)
    _correct(malignancy, clinician, "Note added after voiding", notes="see source")
    client = client_for(monitor)
    actions = [(e.record_type, e.action) for e in _entries(client.get(TRAIL, {"patient": "01-001"}))]
    assert actions == [("Malignancy history", "change"), ("Malignancy history", "void"),
                       ("Malignancy history", "create"), ("Patient", "create")]
    (void,) = _entries(client.get(TRAIL, {"action": "void"}))
    assert void.reason == "Voided: Entered in error"
    assert {c.label for c in void.changes} == {"Voided at", "Void reason"}


def test_filter_by_patient_and_user(client_for, monitor, clinician, clinician_b, site_a, site_b, admin_user):
    p1 = _new_patient(site_a, clinician, "01-001")
    p2 = _new_patient(site_b, clinician_b, "02-001")
    _correct(p1, admin_user, "Admin correction", sex="M")
    _correct(p1, clinician, "Clinician correction", birth_year=1971)
    _correct(p2, clinician_b, "Other patient", sex="M")
    client = client_for(monitor)
    entries = _entries(client.get(TRAIL, {"patient": "01-001", "user": clinician.pk}))
    assert [(e.subject_id, e.user, e.action, e.reason) for e in entries] == [
        ("01-001", clinician, "change", "Clinician correction"), ("01-001", clinician, "create", "")]
    assert {e.subject_id for e in _entries(client.get(TRAIL, {"patient": "02-001"}))} == {"02-001"}
    assert _entries(client.get(TRAIL, {"patient": "09-999"})) == []


def test_filter_by_record_type_covers_infusions_through_their_cycle(client_for, monitor, site_a):
    patient = PatientFactory(site=site_a, subject_id="01-001")
    full_cycle(patient)
    other = PatientFactory(site=site_a, subject_id="01-002")
    full_cycle(other)
    client = client_for(monitor)
    entries = _entries(client.get(TRAIL, {"record_type": "visits.infusion", "patient": "01-001"}))
    assert [(e.record_type, e.record_label, e.subject_id) for e in entries] == [
        ("Infusion", "Cycle 1 day 2", "01-001"), ("Infusion", "Cycle 1 day 1", "01-001")]
    kinds = {e.kind for e in _entries(client.get(TRAIL, {"patient": "01-001"}))}
    assert kinds == {"patients.patient", "visits.treatmentcycle", "visits.assessment", "visits.infusion"}


@pytest.mark.req("URS-AUD-007")
def test_date_range_is_inclusive_in_the_display_zone(client_for, monitor, clinician, site_a):
    patient = PatientFactory.build(site=site_a, subject_id="01-001")
    # 2025-06-01 23:30 in Paris is 21:30 UTC: it belongs to June 1st there.
    patient._history_date = datetime(2025, 6, 1, 21, 30, tzinfo=dt_timezone.utc)
    record_save(instance=patient, user=clinician)
    patient._history_date = datetime(2025, 6, 1, 22, 30, tzinfo=dt_timezone.utc)  # June 2nd, 00:30 Paris
    _correct(patient, clinician, "Next day", sex="M")
    patient._history_date = datetime(2025, 6, 10, 8, 0, tzinfo=dt_timezone.utc)
    _correct(patient, clinician, "Later", birth_year=1971)
    client = client_for(monitor)

    def reasons(**params):
        return [e.reason for e in _entries(client.get(TRAIL, {"patient": "01-001", **params}))]

    assert reasons(date_from="2025-06-01", date_to="2025-06-01") == [""]
    assert reasons(date_from="2025-06-02", date_to="2025-06-10") == ["Later", "Next day"]
    assert reasons(date_to="2025-06-02") == ["Next day", ""]
    assert reasons(date_from="2025-06-11") == []
    response = client.get(TRAIL, {"date_from": "2025-06-10", "date_to": "2025-06-01"})
    assert response.context["form"].errors["date_to"] and _entries(response) == []


@pytest.mark.req("URS-AUD-002")
def test_membership_site_access_and_export_rows_are_in_the_trail(client, client_for, admin_user, site_a):
    from tests.accounts.factories import MembershipFactory, UserFactory

    nurse = UserFactory(username="nurse")
    MembershipFactory(user=nurse, role="clinician", site=site_a)
    client.post(reverse("accounts:login"), {"username": "intruder", "password": "guess"})
    client.post(reverse("accounts:login"), {"username": "nurse", "password": "correct horse battery"})
    log, _, chunks = export_cohort(format_name="csv", user=admin_user)
    b"".join(chunks)
    client.logout()
    client = client_for(admin_user)
    entries = _entries(client.get(TRAIL))
    kinds = {(e.kind, e.action) for e in entries}
    assert {("accounts.site", "create"), ("accounts.membership", "create"), ("oversight.accessevent", "login"),
            ("oversight.accessevent", "login_failed"), ("reporting.exportlog", "export")} <= kinds
    failed = next(e for e in entries if e.action == "login_failed")
    assert failed.username == "intruder" and failed.user is None
    export = next(e for e in entries if e.kind == "reporting.exportlog")
    details = dict(export.details)
    assert export.user == admin_user and details["Format"] == "csv"
    assert details["Row counts"] == ", ".join(f"{k}={v}" for k, v in sorted(log.row_counts.items()))
    membership = next(e for e in entries if e.kind == "accounts.membership")
    assert membership.record_label == "nurse: Clinician (01)"
    assert {c.label: c.new for c in membership.changes}["Role"] == "Clinician"
    only_access = _entries(client.get(TRAIL, {"record_type": "oversight.accessevent", "action": "login_failed"}))
    assert [e.username for e in only_access] == ["intruder"]
    assert "intruder" in client.get(TRAIL).content.decode()


def test_a_deletion_shows_as_delete(client_for, admin_user, site_a):
    from tests.accounts.factories import MembershipFactory, UserFactory

    membership = MembershipFactory(user=UserFactory(username="nurse"), role="clinician", site=site_a)
    membership.delete()  # memberships may be removed; clinical records never are
    entries = _entries(client_for(admin_user).get(TRAIL, {"record_type": "accounts.membership",
                                                          "action": "delete"}))
    assert [(e.record_label, e.action) for e in entries] == [("nurse: Clinician (01)", "delete")]


def test_a_site_bound_reader_sees_only_their_sites_patients(client_for, clinician, clinician_b, site_a, site_b):
    # Permissions come with roles only (issue 12): grant the audit trail to the clinician role.
    Group.objects.get(name="clinician").permissions.add(Permission.objects.get(codename="view_audit_trail"))
    _new_patient(site_a, clinician, "01-001")
    _new_patient(site_b, clinician_b, "02-001")
    entries = _entries(client_for(clinician).get(TRAIL))
    assert [(e.kind, e.subject_id) for e in entries] == [("patients.patient", "01-001")]


def test_every_row_is_listed_once_newest_first_across_pages(client_for, monitor, clinician, site_a):
    patient = _new_patient(site_a, clinician, "01-001")
    for year in range(1930, 1990):  # 61 rows: two pages
        _correct(patient, clinician, f"year {year}", birth_year=year)
    client = client_for(monitor)
    first = client.get(TRAIL, {"patient": "01-001"})
    second = client.get(TRAIL, {"patient": "01-001", "page": 2})
    assert first.context["paginator"].count == 61
    rows = _entries(first) + _entries(second)
    assert len(_entries(first)) == 50
    assert [e.reason for e in rows] == [f"year {y}" for y in range(1989, 1929, -1)] + [""]
    assert "patient=01-001&amp;page=2" in first.content.decode()


# Constant number of queries ------------------------------------------------------------------

def _patients(site, user, n, start=100):
    for i in range(n):
        patient = _new_patient(site, user, f"01-{start + i:03d}")
        _correct(patient, user, "correction", sex="M")


@contextmanager
def _acting_as(user):
    """Attribute every history row written inside to ``user``, as
    ``HistoryRequestMiddleware`` does for a request."""
    HistoricalRecords.context.request = SimpleNamespace(user=user)
    try:
        yield
    finally:
        del HistoricalRecords.context.request


def _mix(site, user, subject_id):
    """Every kind of row for one patient: a correction, a void, a cycle with
    its deviation, an AE after an infusion; and an export."""
    with _acting_as(user):
        _mix_rows(site, user, subject_id)


def _mix_rows(site, user, subject_id):
    patient = _new_patient(site, user, subject_id)
    _correct(patient, user, "correction", birth_year=1969)
    malignancy = MalignancyFactory(patient=patient)
    record_void(instance=malignancy, reason="error", expected_version=malignancy.version)
    cycle = full_cycle(patient, day2_dose=60)
    from visits.services import deviations_refresh
    deviations_refresh(cycle=cycle, reason="rules")
    AdverseEvent.objects.create(patient=patient, term="Headache", onset_date=patient.enrolment_date,
                                grade=1, relatedness="possible", outcome="recovered",
                                infusion=Infusion.objects.get(cycle=cycle, day=1))
    export_cohort(format_name="csv", user=user)


# Queries of the page for an admin (the admin role, not a superuser since issue 12):
# session, user, memberships (site time zone middleware), the role permissions,
# the users of the filter, the count, the
# page of the union, per history model on the page its rows and (when a row on the
# page has one) its previous rows, 1 for exports, 1 for access events, 1 for the
# subject ids, the serious-event banner of base.html and the administrators' banner of
# accounts locked after failed logins (issue 12). On the pages below:
# patient 2, malignancy 2, cycle 1, assessment 1, infusion 1, deviation 1,
# adverse event 1 -> 7 + 9 + 2 + 1 + 1 + 1 = 21.
PAGE_QUERIES = 21


@pytest.mark.req("URS-USR-002")
def test_the_page_runs_a_constant_number_of_queries(client_for, admin_user, site_a, django_assert_num_queries):
    _patients(site_a, admin_user, 1)
    _mix(site_a, admin_user, "01-001")
    client = client_for(admin_user)  # the login is on the page too
    params = {"user": admin_user.pk}
    with django_assert_num_queries(PAGE_QUERIES):
        small = client.get(TRAIL, params)
    assert 10 <= small.context["paginator"].count < 50

    _patients(site_a, admin_user, 40, start=200)  # 80 more rows
    _mix(site_a, admin_user, "01-002")  # the newest 50 rows have the same mix
    client = client_for(admin_user)
    with django_assert_num_queries(PAGE_QUERIES):
        big = client.get(TRAIL, params)
    assert big.context["paginator"].count > 100 and len(_entries(big)) == 50
    assert {e.kind for e in _entries(big)} == {e.kind for e in _entries(small)}


def test_the_selector_query_count_does_not_grow_with_rows(admin_user, site_a):
    filters = audit.AuditFilters(user_id=admin_user.pk)

    def run():
        with CaptureQueriesContext(connection) as queries:
            trail = audit.audit_trail(user=admin_user, filters=filters)
            trail.count()
            entries = audit.audit_entries(list(trail[:50]))
        return entries, len(queries)

    _patients(site_a, admin_user, 1)
    _mix(site_a, admin_user, "01-001")
    small, small_count = run()
    _patients(site_a, admin_user, 40, start=200)
    _mix(site_a, admin_user, "01-002")
    big, big_count = run()
    assert len(big) == 50 > len(small)
    assert {e.kind for e in big} == {e.kind for e in small}
    assert big_count == small_count == 2 + 9 + 1 + 1  # count, page; rows; exports; subject ids
    deviation = next(e for e in big if e.kind == "visits.protocoldeviation")
    assert {c.label for c in deviation.changes} >= {"Patient", "Cycle"}  # shown without a query
    ae = next(e for e in big if e.kind == "safety.adverseevent")
    assert {c.label: c.new for c in ae.changes}["Infusion"] == "01-002 cycle 1 day 1"


# CSV export ----------------------------------------------------------------------------------

@pytest.mark.req("URS-AUD-004")
def test_csv_has_one_line_per_changed_field_and_is_logged(client_for, monitor, clinician, site_a):
    patient = _new_patient(site_a, clinician, "01-001")
    _correct(patient, clinician, "Wrong date", consent_date=date(2025, 3, 2), sex="M")
    _new_patient(site_a, clinician, "01-002")
    response = client_for(monitor).get(EXPORT, {"patient": "01-001", "action": "change"})
    assert response["Content-Type"].startswith("text/csv")
    rows = _csv(response)
    assert [list(r) for r in rows[:1]] == [audit.CSV_HEADER]
    assert sorted((r["field"], r["old"], r["new"]) for r in rows) == [
        ("Date of informed consent", "2025-03-01", "2025-03-02"), ("Sex", "Female", "Male")]
    assert {(r["user"], r["patient"], r["record type"], r["record"], r["action"], r["reason"]) for r in rows} == {
        (clinician.username, "01-001", "Patient", "01-001", "change", "Wrong date")}
    event = AccessEvent.objects.get(kind=AccessKind.AUDIT_EXPORT)
    assert event.user == monitor and event.detail == {"filters": {"patient": "01-001", "action": "change"}}


@pytest.mark.req("URS-AUD-004")
def test_csv_streams_every_row_in_chunks(client_for, monitor, clinician, site_a, monkeypatch):
    monkeypatch.setattr(audit, "CSV_CHUNK_SIZE", 4)
    patient = _new_patient(site_a, clinician, "01-001")
    for year in range(1950, 1961):
        _correct(patient, clinician, f"year {year}", birth_year=year)
    rows = _csv(client_for(monitor).get(EXPORT, {"patient": "01-001"}))
    changes = [r for r in rows if r["action"] == "change"]
    # (each correction also moves the stored ages derived from the year: patients.services)
    assert {r["field"] for r in changes} <= {"Year of birth", "Age at enrolment", "Age at first symptom"}
    changes = [r for r in changes if r["field"] == "Year of birth"]
    assert [r["reason"] for r in changes] == [f"year {y}" for y in range(1960, 1949, -1)]
    created = [r for r in rows if r["action"] == "create"]
    assert len(created) == len(_entries(client_for(monitor).get(TRAIL, {"action": "create"}))[0].changes)


def test_csv_keyset_walk_matches_the_page_order_with_ties(admin_user, site_a):
    moment = timezone.now() - timedelta(days=1)
    for i in range(5):  # rows of two models at the very same instant
        patient = PatientFactory.build(site=site_a, subject_id=f"01-{i + 1:03d}")
        patient._history_date = moment
        record_save(instance=patient, user=admin_user)
        malignancy = MalignancyFactory.build(patient=patient)
        malignancy._history_date = moment
        malignancy.save()
    AccessEvent.objects.create(kind=AccessKind.LOGIN, username="x", at=moment)
    filters = audit.AuditFilters()
    expected = [(r["a_kind"], r["a_row"]) for r in audit.audit_trail(user=admin_user, filters=filters)]
    walked = [(e.kind, e.row_id) for e in audit.iter_audit_entries(user=admin_user, filters=filters,
                                                                     chunk_size=3)]
    assert walked == expected and len(set(walked)) == len(walked) >= 11


def test_csv_without_filters_lists_access_events_and_its_own_export(client_for, monitor):
    AccessEvent.objects.create(kind=AccessKind.LOGIN_FAILED, username="=cmd|' /C calc'!A0")
    rows = _csv(client_for(monitor).get(EXPORT))
    failed = [r for r in rows if r["action"] == "failed login"]
    assert {r["field"]: r["new"] for r in failed}["User name"] == "'=cmd|' /C calc'!A0"  # not a formula
    assert any(r["action"] == "audit-trail export" and r["user"] == monitor.username for r in rows)


def test_csv_with_a_bad_filter_is_refused(client_for, monitor):
    response = client_for(monitor).get(EXPORT, {"date_from": "not a date"})
    assert response.status_code == 400
    assert not AccessEvent.objects.filter(kind=AccessKind.AUDIT_EXPORT).exists()
