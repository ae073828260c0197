"""The laboratory-results import (issue 17, point 2): parse, dry run, commit, verify, the command."""

import io
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from openpyxl import Workbook

from exchange.imports import labs
from exchange.imports.labs import parse
from tests.patients.factories import PatientFactory
from tests.visits.factories import AssessmentFactory, CycleFactory, full_cycle
from visits.models import Assessment, AssessmentTimepoint

pytestmark = pytest.mark.django_db

D1 = date(2025, 3, 17)  # cycle 1's start (and its assessment's date) in the factories
D2 = D1 + timedelta(days=28)


def csv_bytes(text, bom=False):
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8")


def xlsx_bytes(rows):
    workbook = Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


@pytest.fixture
def cohort(site_a):
    """01-001 with cycles 1 and 2 (CK 2400, ULN 200 from the factory), 01-002 with cycle 1."""
    p1 = PatientFactory(site=site_a, subject_id="01-001")
    p2 = PatientFactory(site=site_a, subject_id="01-002")
    full_cycle(p1, number=1)
    full_cycle(p1, number=2)
    full_cycle(p2, number=1)
    return p1, p2


def assessment(subject, day):
    return Assessment.objects.get(patient__subject_id=subject, assessment_date=day)


def table(text, name="labs.csv", **kwargs):
    return labs.read(csv_bytes(text, **kwargs), name)


# --- parse ----------------------------------------------------------------------------------------


def test_headers_are_mapped_from_their_common_names():
    mapping = labs.auto_mapping(["USUBJID", "Date de prélèvement", "CPK (U/L)", "CK ULN", "CK LLN",
                                 "Aldolase", "Aldolase ULN", "LDH", "LDH LSN", "ASAT", "ASAT ULN", "ALT",
                                 "ALT upper limit", "Comment"])
    assert mapping == {"subject": "USUBJID", "date": "Date de prélèvement", "ck_u_per_l": "CPK (U/L)",
                       "ck_uln_u_per_l": "CK ULN", "ck_lln_u_per_l": "CK LLN", "aldolase_u_per_l": "Aldolase",
                       "aldolase_uln_u_per_l": "Aldolase ULN", "ldh_u_per_l": "LDH", "ldh_uln_u_per_l": "LDH LSN",
                       "ast_u_per_l": "ASAT", "ast_uln_u_per_l": "ASAT ULN", "alt_u_per_l": "ALT",
                       "alt_uln_u_per_l": "ALT upper limit"}
    assert labs.auto_mapping(["Subject", "Date", "CK"]) == {"subject": "Subject", "date": "Date",
                                                           "ck_u_per_l": "CK"}


@pytest.mark.parametrize("text, value", [("72,5", Decimal("72.5")), ("72.5", Decimal("72.5")),
                                         ("1 234,5", Decimal("1234.5")), ("1\u202f234", Decimal("1234")),
                                         ("72,50", Decimal("72.5")), ("100", Decimal("100")), ("", None)])
def test_decimals_with_a_comma_or_a_point(text, value):
    parsed = parse.parse_decimal(text)
    assert parsed == value
    if value is not None:
        assert str(parsed) == str(value)  # no exponent, no trailing zero (the model takes 1 decimal)


@pytest.mark.parametrize("text", ["<5", "1.234,5", "n.d.", "1,2,3", "NaN"])
def test_what_is_not_a_number(text):
    with pytest.raises(parse.CellError):
        parse.parse_decimal(text)


@pytest.mark.parametrize("text, value", [("2026-03-04", date(2026, 3, 4)), ("04/03/2026", date(2026, 3, 4)),
                                         ("4.3.2026", date(2026, 3, 4)), ("2026-03-04 08:15", date(2026, 3, 4)),
                                         ("04/03/2026 08:15:00", date(2026, 3, 4))])
def test_dates(text, value):
    assert parse.parse_date(text) == value


@pytest.mark.parametrize("text", ["31/02/2026", "2026/03/04", "March 4", "04-03-26"])
def test_what_is_not_a_date(text):
    with pytest.raises(parse.CellError):
        parse.parse_date(text)


def test_a_french_csv_with_a_bom_and_semicolons():
    t = table("Sujet;Date;CK;CK LSN\n01-001;17/03/2025;72,5;200\n;;;\n01-002;17/03/2025;80;200\n", bom=True)
    assert t.kind == "csv" and t.headers == ["Sujet", "Date", "CK", "CK LSN"]
    assert t.rows == [(2, ["01-001", "17/03/2025", "72,5", "200"]), (4, ["01-002", "17/03/2025", "80", "200"])]


def test_xlsx_values_dates_and_formulas_are_read_as_cached_values_never_evaluated():
    data = xlsx_bytes([["Subject", "Date", "CK", "CK ULN"], ["01-001", D1, 72.5, "=100*2"]])
    t = labs.read(data, "labs.xlsx")
    assert t.kind == "xlsx"
    # The formula has no cached value (openpyxl wrote it): empty, not evaluated to 200.
    assert t.rows == [(2, ["01-001", "2025-03-17", "72.5", ""])]


@pytest.mark.parametrize("data, name, message", [
    (b"", "a.csv", "empty"),
    (b"\xff\xfeS\x00", "a.csv", "UTF-8"),
    (b"Subject;Date;CK\n", "a.csv", "no data row"),
    (b"Subject;CK;CK\n01-001;1;2\n", "a.csv", "Two columns"),
    (b"not a workbook", "a.xlsx", "XLSX"),
    (b"PK\x03\x04garbage", "a.xlsx", "cannot be read"),
])
def test_unreadable_files(data, name, message):
    with pytest.raises(labs.LabFileError, match=message):
        labs.read(data, name)


def test_size_and_row_limits(monkeypatch):
    monkeypatch.setattr(parse, "MAX_ROWS", 3)
    with pytest.raises(labs.LabFileError, match="more than 3 rows"):
        table("Subject,Date,CK\n" + "01-001,2025-03-17,1\n" * 4)
    monkeypatch.setattr(parse, "MAX_BYTES", 10)
    with pytest.raises(labs.LabFileError, match="larger than"):
        table("Subject,Date,CK\n01-001,2025-03-17,1\n")


# --- dry run ----------------------------------------------------------------------------------------


def plan_of(text, user, mapping=None):
    t = table(text)
    return labs.dry_run(t, mapping or labs.auto_mapping(t.headers), user=user)


@pytest.mark.req("URS-DAT-004")
def test_dry_run_shows_new_changed_and_unchanged_and_stores_nothing(cohort, clinician):
    text = ("Subject,Date,CK,CK ULN,LDH,LDH ULN\n"
            "01-001,2025-03-17,2400,200,,\n"           # unchanged
            "01-001,2025-04-14,1800,200,300,250\n"     # CK changed, LDH and its ULN new
            "01-002,17/03/2025,,,310,250\n")           # LDH new only (empty CK: no change)
    plan = plan_of(text, clinician)
    assert not plan.errors
    assert [row.status for row in plan.rows] == [labs.UNCHANGED, labs.CHANGED, labs.NEW]
    changed = plan.rows[1]
    assert [(c.field, c.old, c.new, c.kind) for c in changed.changes] == [
        ("ck_u_per_l", Decimal("2400.0"), Decimal("1800"), "changed"),
        ("ldh_u_per_l", None, Decimal("300"), "new"), ("ldh_uln_u_per_l", None, Decimal("250"), "new")]
    assert changed.unchanged == ["ck_uln_u_per_l"] and changed.cycle_number == 2
    assert plan.rows[2].unchanged == [] and [c.field for c in plan.rows[2].changes] == ["ldh_u_per_l",
                                                                                        "ldh_uln_u_per_l"]
    assert plan.counts() == {"new": 1, "changed": 1, "unchanged": 1, "error": 0}
    assert assessment("01-001", D2).ck_u_per_l == Decimal("2400")  # nothing stored


def errors_of(plan):
    return [(issue.row, issue.column, issue.message) for issue in plan.errors]


@pytest.mark.req("URS-DAT-004")
def test_every_error_names_its_row_and_column(cohort, clinician, site_b):
    PatientFactory(site=site_b, subject_id="02-001")
    text = ("Subject,Date,CK,CK ULN,CK LLN\n"
            "09-999,2025-03-17,100,200,\n"          # 2: unknown subject
            "02-001,2025-03-17,100,200,\n"          # 3: another site's patient: told as unknown
            "01-001,2025-03-18,100,200,\n"          # 4: no assessment that day
            "01-001,2025-03-17,abc,200,\n"          # 5: not a number
            "01-001,32/03/2025,100,200,\n"          # 6: not a date
            "01-002,2025-03-17,100,150,180\n"       # 7: lower limit above the upper (the rules)
            "01-001,2025-04-14,-5,200,\n"           # 8: negative (the rules)
            "01-001,2025-04-14,12.25,200,\n")       # 9: two decimals (the field), and a duplicate of 8
    plan = plan_of(text, clinician)
    errors = errors_of(plan)
    assert (2, "Subject", "There is no subject 09-999 among the patients of your sites.") in errors
    assert (3, "Subject", "There is no subject 02-001 among the patients of your sites.") in errors
    assert any(e[:2] == (4, "Date") and "no assessment of 01-001 on 2025-03-18" in e[2] for e in errors)
    assert (5, "CK", "'abc' is not a number.") in errors
    assert any(e[:2] == (6, "Date") and "not a date" in e[2] for e in errors)
    assert (7, "CK LLN", "The lower limit is above the upper limit.") in errors
    assert any(e[:2] == (8, "Date") and "Row 9 is for the same assessment" in e[2] for e in errors)
    assert any(e[:2] == (9, "Date") and "Row 8 is for the same assessment" in e[2] for e in errors)
    assert all(row.status == labs.ERROR for row in plan.rows)


def test_rule_errors_and_a_value_without_its_range(cohort, clinician):
    Assessment.objects.filter(patient__subject_id="01-002").update(ck_uln_u_per_l=None, ck_u_per_l=None)
    plan = plan_of("Subject,Date,CK,LDH,LDH ULN\n01-002,2025-03-17,100,,\n01-001,2025-04-14,-5,300,0\n"
                   "01-001,2025-03-17,12.25,,\n", clinician)
    errors = errors_of(plan)
    # the CK upper limit is not in the file and not stored: the rule's message, on the field's label
    assert (2, "CK upper limit (U/L) (not in the file)",
            "Give the laboratory's upper limit of normal with the CK.") in errors
    assert (3, "CK", "CK cannot be negative.") in errors
    assert (3, "LDH ULN", "The upper limit must be above 0.") in errors
    assert any(e[:2] == (4, "CK") and "1 decimal place" in e[2] for e in errors)


def test_a_study_wide_admin_is_told_unknown_subjects_plainly(cohort, admin_user):
    plan = plan_of("Subject,Date,CK\n09-999,2025-03-17,100\n", admin_user)
    assert errors_of(plan) == [(2, "Subject", "There is no subject 09-999.")]


@pytest.mark.req("URS-DAT-004")
def test_a_voided_assessment_and_a_locked_cycle_or_casebook(cohort, clinician):
    p1, p2 = cohort
    Assessment.objects.filter(patient=p2).update(voided_at=timezone.now(), void_reason="wrong patient")
    p1.cycles.filter(number=2).update(locked_at=timezone.now())
    plan = plan_of("Subject,Date,CK\n01-002,2025-03-17,100\n01-001,2025-04-14,100\n01-001,2025-03-17,100\n",
                   clinician)
    assert errors_of(plan) == [
        (2, "Date", "The assessment of 01-002 on 2025-03-17 is voided."),
        (3, "Subject", "The cycle 2 is locked: no change is possible until an administrator unlocks it.")]
    assert plan.rows[2].status == labs.CHANGED
    type(p1).objects.filter(pk=p1.pk).update(locked_at=timezone.now())
    plan = plan_of("Subject,Date,CK\n01-001,2025-03-17,100\n", clinician)
    assert errors_of(plan) == [(2, "Subject", "The casebook of 01-001 is locked: no change is possible until an "
                                              "administrator unlocks it.")]


def test_the_end_of_treatment_visit_is_matched_too(cohort, clinician):
    p1, _p2 = cohort
    end = AssessmentFactory(cycle=None, patient=p1, timepoint=AssessmentTimepoint.END_OF_TREATMENT,
                            assessment_date=D2 + timedelta(days=30))
    plan = plan_of(f"Subject,Date,CK,CK ULN\n01-001,{end.assessment_date},150,200\n", clinician)
    assert not plan.errors and plan.rows[0].status == labs.CHANGED and plan.rows[0].cycle_number is None


def test_the_mapping_needs_the_keys_and_a_lab_value(cohort, clinician):
    t = table("Who,When,CK\n01-001,2025-03-17,100\n")
    with pytest.raises(labs.MappingError) as caught:
        labs.dry_run(t, {"ck_u_per_l": "CK"}, user=clinician)
    assert set(caught.value.errors) == {"subject", "date"}
    with pytest.raises(labs.MappingError) as caught:
        labs.dry_run(t, {"subject": "Who", "date": "When", "ck_u_per_l": "Who"}, user=clinician)
    assert "already mapped" in str(caught.value)
    plan = labs.dry_run(t, {"subject": "Who", "date": "When", "ck_u_per_l": "CK"}, user=clinician)
    assert plan.rows[0].status == labs.CHANGED


# --- commit ---------------------------------------------------------------------------------------


ROUND_TRIP = ("Subject;Date;CK;CK ULN;AST;AST ULN\n"
              "01-001;17/03/2025;1950,5;200;45;40\n"
              "01-001;14/04/2025;{ck};200;;\n"
              "01-002;17/03/2025;2400;200;;\n")


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_round_trip_an_error_row_stores_nothing_then_the_fixed_file_stores_all(cohort, clinician, kind):
    def file_of(ck):
        if kind == "csv":
            return labs.read(csv_bytes(ROUND_TRIP.format(ck=ck)), "labs.csv")
        rows = [line.split(";") for line in ROUND_TRIP.format(ck=ck).strip().split("\n")]
        rows = [rows[0]] + [[r[0], date(int(r[1][6:]), int(r[1][3:5]), int(r[1][:2])),
                             *(float(c.replace(",", ".")) if c and c.replace(",", "").replace("-", "").isdigit()
                               else c or None for c in r[2:])] for r in rows[1:]]
        return labs.read(xlsx_bytes(rows), "labs.xlsx")

    before = Assessment.history.count()
    bad = file_of("-12")
    with pytest.raises(labs.LabImportError) as caught:
        labs.commit(bad, labs.auto_mapping(bad.headers), user=clinician, reason="Lab file of March")
    assert [(e.row, e.column) for e in caught.value.plan.errors] == [(3, "CK")]
    assert Assessment.history.count() == before
    assert assessment("01-001", D1).ck_u_per_l == Decimal("2400")  # the good row was not stored either

    fixed = file_of("1200")
    dry = labs.dry_run(fixed, labs.auto_mapping(fixed.headers), user=clinician)
    assert [row.status for row in dry.rows] == [labs.CHANGED, labs.CHANGED, labs.UNCHANGED]
    plan = labs.commit(fixed, labs.auto_mapping(fixed.headers), user=clinician, reason="Lab file of March",
                       expected_digest=dry.digest)
    assert plan.committed
    first, second = assessment("01-001", D1), assessment("01-001", D2)
    assert (first.ck_u_per_l, first.ast_u_per_l, first.ast_uln_u_per_l) == (Decimal("1950.5"), 45, 40)
    assert second.ck_u_per_l == Decimal("1200") and second.version == 2
    for record in (first, second):
        newest = record.history.order_by("-history_id").first()
        assert newest.history_type == "~"
        assert newest.history_change_reason == "Lab file of March"
        assert newest.history_user == clinician
    assert assessment("01-002", D1).history.count() == 1  # unchanged: no history row


@pytest.mark.req("URS-DAT-004")
def test_commit_refuses_a_plan_that_changed_since_the_dry_run(cohort, clinician):
    t = table("Subject,Date,CK\n01-001,2025-03-17,100\n")
    dry = labs.dry_run(t, labs.auto_mapping(t.headers), user=clinician)
    Assessment.objects.filter(pk=dry.rows[0].assessment_pk).update(ck_u_per_l=Decimal("150"), version=2)
    with pytest.raises(labs.LabImportError) as caught:
        labs.commit(t, labs.auto_mapping(t.headers), user=clinician, reason="x", expected_digest=dry.digest)
    assert caught.value.changed and caught.value.plan.rows[0].changes[0].old == Decimal("150")
    assert assessment("01-001", D1).ck_u_per_l == Decimal("150")


@pytest.mark.req("URS-DAT-004")
def test_commit_needs_a_reason(cohort, clinician):
    t = table("Subject,Date,CK\n01-001,2025-03-17,100\n")
    with pytest.raises(ValidationError) as caught:
        labs.commit(t, labs.auto_mapping(t.headers), user=clinician, reason="  ")
    assert "reason" in caught.value.message_dict


@pytest.mark.req("URS-DAT-004")
def test_a_signed_cycle_is_a_warning_and_its_signature_is_invalidated(cohort, investigator):
    from review.models import Signature
    from review.services import _signature_write

    p1, _p2 = cohort
    cycle = p1.cycles.get(number=1)
    signature = _signature_write(record=cycle, user=investigator, meaning="reviewed")
    t = table("Subject,Date,CK\n01-001,2025-03-17,100\n")
    dry = labs.dry_run(t, labs.auto_mapping(t.headers), user=investigator)
    assert not dry.errors
    assert dry.warnings == [(2, "Signed: the signature of the cycle 1 will be invalidated by this change.")]
    labs.commit(t, labs.auto_mapping(t.headers), user=investigator, reason="Lab correction")
    assert not Signature.objects.filter(pk=signature.pk).not_invalidated().exists()


def test_a_user_whose_role_may_not_change_assessments(cohort, coordinator, monitor):
    for user in (coordinator, monitor):
        plan = plan_of("Subject,Date,CK\n01-001,2025-03-17,100\n", user)
        assert errors_of(plan) == [(2, "Subject", "Your roles at the site of 01-001 do not allow changing "
                                                  "assessments.")]


# --- queries ------------------------------------------------------------------------------------


def test_the_dry_run_reads_in_a_number_of_queries_that_does_not_grow_with_the_rows(site_a, clinician):
    def queries(n):
        lines = ["Subject,Date,CK,CK ULN,LDH,LDH ULN"]
        for i in range(n):
            patient = PatientFactory(site=site_a, subject_id=f"01-{100 + n * 10 + i:03d}")  # varchar(6): 01-110 .. 01-539
            cycle = CycleFactory(patient=patient, number=1)
            AssessmentFactory(cycle=cycle, patient=patient)
            lines.append(f"{patient.subject_id},{D1},{1000 + i},200,{300 + i},250")
        end = AssessmentFactory(cycle=None, patient=patient, timepoint=AssessmentTimepoint.END_OF_TREATMENT,
                                assessment_date=D2)
        lines.append(f"{patient.subject_id},{end.assessment_date},90,200,,")
        t = table("\n".join(lines) + "\n")
        mapping = labs.auto_mapping(t.headers)
        fresh = type(clinician).objects.get(pk=clinician.pk)  # no cached roles
        with CaptureQueriesContext(connection) as captured:
            plan = labs.dry_run(t, mapping, user=fresh)
        assert not plan.errors and len(plan.to_write) == n + 1
        return len(captured.captured_queries)

    queries(1)  # warm the process-wide caches (content types)
    assert queries(2) == queries(40)


# --- the command ------------------------------------------------------------------------------------


def test_the_command_dry_runs_by_default_then_commits(cohort, clinician, tmp_path):
    path = tmp_path / "labs.csv"
    path.write_text("Patient;Date;CPK;CPK max\n01-001;17/03/2025;72,5;200\n", encoding="utf-8")
    out = io.StringIO()
    call_command("import_labs", str(path), "--user", clinician.username, stdout=out)
    assert "Row 2 (01-001 2025-03-17): changed: CK (U/L): 2400.0 -> 72.5" in out.getvalue()
    assert "nothing stored" in out.getvalue()
    assert assessment("01-001", D1).ck_u_per_l == Decimal("2400")
    with pytest.raises(CommandError, match="reason"):
        call_command("import_labs", str(path), "--user", clinician.username, "--commit", stdout=io.StringIO())
    call_command("import_labs", str(path), "--user", clinician.username, "--commit", "--reason", "Lab file",
                 stdout=io.StringIO())
    stored = assessment("01-001", D1)
    assert stored.ck_u_per_l == Decimal("72.5")
    assert stored.history.order_by("-history_id").first().history_change_reason == "Lab file"


def test_the_command_reports_errors_and_takes_a_mapping(cohort, clinician, tmp_path):
    path = tmp_path / "labs.csv"
    path.write_text("Who,When,Value,Range\n01-001,2025-03-17,x,200\n", encoding="utf-8")
    err = io.StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("import_labs", str(path), "--user", clinician.username, "--commit", "--reason", "r",
                     "--map", "subject=Who", "--map", "date=When", "--map", "ck_u_per_l=Value",
                     "--map", "ck_uln_u_per_l=Range", stdout=io.StringIO(), stderr=err)
    assert caught.value.returncode == 1
    assert "Row 2, column Value: 'x' is not a number." in err.getvalue()
    with pytest.raises(CommandError) as caught:
        call_command("import_labs", str(path), "--user", clinician.username, stdout=io.StringIO())
    assert caught.value.returncode == 2  # no subject or date column found automatically
    with pytest.raises(CommandError) as caught:
        call_command("import_labs", str(path), "--user", "nobody", stdout=io.StringIO())
    assert caught.value.returncode == 2


@pytest.mark.req("URS-VAL-003")
def test_the_import_stores_what_the_api_would(cohort, clinician):
    """One write path: the same correction by the import and by the API gives the same row and history."""
    from rest_framework.test import APIClient

    from api.services import token_create

    t = table("Subject,Date,CK,LDH,LDH ULN\n01-001,2025-03-17,150,300,250\n")
    labs.commit(t, labs.auto_mapping(t.headers), user=clinician, reason="Lab correction")
    by_import = assessment("01-001", D1)
    other = assessment("01-002", D1)
    _, token = token_create(user=clinician)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    response = api.patch(f"/api/v1/assessments/{other.pk}/", {
        "ck_u_per_l": "150", "ldh_u_per_l": "300", "ldh_uln_u_per_l": "250", "version": other.version,
        "change_reason": "Lab correction"}, format="json")
    assert response.status_code == 200, response.content
    by_api = assessment("01-002", D1)
    fields = [f.name for f in Assessment._meta.concrete_fields
              if f.name not in ("id", "patient", "cycle", "created_at", "updated_at", "assessment_date")]
    assert {f: getattr(by_import, f) for f in fields} == {f: getattr(by_api, f) for f in fields}

    def history(record):
        return [(h.history_type, h.history_change_reason, h.history_user_id)
                for h in record.history.order_by("history_id")]

    assert history(by_import) == history(by_api)
