"""The fast CSV path (issue 8): ``Table.text_rows`` and, on PostgreSQL, the cells
formatted by SQL (``Table.text_query``; the derived columns are the stored facts)
and ``COPY ... WITH CSV`` give exactly what ``as_text`` and ``csv.writer`` give. The PostgreSQL tests run with DATABASE_URL=postgres://...;
the others on any database."""

import csv
import io
import random
import zipfile
from datetime import date, datetime, time
from datetime import timezone as dt_timezone
from decimal import Decimal

import pytest
from django.core.management import call_command

from patients.models import Diagnosis, Patient
from exchange import datasets
from exchange.exports import base, tabular
from safety.models import AdverseEvent
from visits.models import DosingBasis, Infusion, ProtocolDeviation, TreatmentCycle

pytestmark = pytest.mark.django_db
postgresql_only = pytest.mark.skipif(not datasets.sql_text_supported(), reason="PostgreSQL (psycopg2) only")

PYTHON_TYPES = {"string": (str,), "integer": (int,), "decimal": (Decimal,), "date": (date,),
                "datetime": (datetime,), "time": (time,), "boolean": (bool,)}


@pytest.fixture
def demo(settings):
    settings.DEBUG = True
    call_command("seed_demo", verbosity=0)


def as_cell(value):
    """What csv.writer writes for a text_rows cell."""
    return "" if value is None else str(value)


def expected_text(table, patients):
    """as_text of each value; text columns through spreadsheet_safe (no cell runs as a formula)."""
    return [[base.spreadsheet_safe(datasets.as_text(v)) if c.type == "string" else datasets.as_text(v)
             for c, v in zip(table.columns, values)] for values in table.tuples(patients)]


def test_typed_values_are_of_their_column_type(demo):
    """text_rows' per-column converters rely on it (a bool in an integer column, an int in
    a decimal column would be written differently from as_text)."""
    patients = datasets.cohort()
    for table in datasets.TABLES:
        seen = 0
        for values in table.tuples(patients):
            assert len(values) == len(table.columns)
            for column, value in zip(table.columns, values):
                if value is not None:
                    assert type(value) in PYTHON_TYPES[column.type] or (
                        column.type == "string" and type(value) is str), (table.name, column.name, value)
            seen += 1
        assert seen, table.name


def test_text_rows_are_as_text_of_the_values(demo):
    """On PostgreSQL the SQL-formatted cells, elsewhere the converters."""
    patients = datasets.cohort()
    for table in datasets.TABLES:
        got = [[as_cell(v) for v in row] for row in table.text_rows(patients)]
        assert got == expected_text(table, patients), table.name


def test_rows_are_the_tuples_as_dicts(demo):
    patients = datasets.cohort()
    for table in datasets.TABLES:
        rows = list(table.rows(patients))
        assert rows == [dict(zip(table.column_names, t)) for t in table.tuples(patients)]
        assert list(rows[0]) == table.column_names


def test_diagnosis_derivations_are_the_rules(demo):
    """diagnosis_tuples reads the stored facts, and they are what patients.rules
    derives from the recorded criteria."""
    from patients import rules as patient_rules

    by_subject = {dx.patient.subject_id: dx for dx in Diagnosis.objects.select_related("patient")}
    names = datasets.TABLES_BY_NAME["diagnoses"].column_names
    rows = list(datasets.diagnosis_rows(datasets.cohort()))
    assert len(rows) == len(by_subject)
    for row in rows:
        dx = by_subject[row["subject_id"]]
        p = dx.patient
        age_at_onset = patient_rules.age_at(p.symptom_onset_date, p.birth_year, p.birth_date)
        facts = patient_rules.diagnosis_facts(kind=dx.kind, age_at_onset=age_at_onset,
                                              criteria={n: getattr(dx, n) for n in patient_rules.DIAGNOSIS_CRITERIA})
        assert row == {"subject_id": p.subject_id, "diagnosis": dx.kind, "diagnosis_date": dx.diagnosis_date,
                       **{n: getattr(dx, n) for n, _ in datasets.DIAGNOSIS_FLAGS}, "dm_rash": facts["rash"],
                       "bohan_peter_certainty": facts["certainty"], "age_at_onset": age_at_onset,
                       "eular_acr_score": facts["eular_acr_score"], "eular_acr_class": facts["eular_acr_class"],
                       # the missing-data codes of the criteria (issue 17): the stored map, column by column
                       **{f"{n}_missing": dx.missing_codes.get(n) for n, _ in datasets.DIAGNOSIS_FLAGS
                          if f"{n}_missing" in names}}
        assert list(row) == names


def test_csv_text_chunks_is_csv_writer():
    rows = [("a,b", 'say "hi"', None, 3), ("line\nbreak", "", "é", date(2025, 1, 2))]
    expected = io.StringIO()
    writer = csv.writer(expected, lineterminator="\r\n")
    writer.writerow(["x", "y", "z", "n"])
    writer.writerows(rows)
    for per_chunk in (1, 2, 5):
        assert b"".join(base.csv_text_chunks(["x", "y", "z", "n"], iter(rows), per_chunk)) \
            == expected.getvalue().encode("utf-8")


def test_crlf_line_ends_leaves_quoted_line_feeds_alone():
    data = b'a,"x\ny",b\n"say ""hi""\n",2\n,\n"\n"\n'
    expected = b'a,"x\ny",b\r\n"say ""hi""\n",2\r\n,\r\n"\n"\r\n'
    for size in range(1, len(data) + 1):
        chunks = [data[i:i + size] for i in range(0, len(data), size)]
        assert b"".join(base.crlf_line_ends(chunks)) == expected, size


# --- PostgreSQL: SQL formatting, SQL derivations and COPY ------------------------

def _zip_members(patients):
    archive = zipfile.ZipFile(io.BytesIO(b"".join(tabular.csv_zip(patients))))
    return {name: archive.read(name) for name in archive.namelist()}


@postgresql_only
def test_copy_and_sql_text_give_the_files_of_the_python_path(demo, monkeypatch):
    """The same zip members byte for byte: COPY + SQL formatting vs typed values,
    as_text converters and csv.writer. Awkward text and times included."""
    awkward = ["a,b", 'say "hi"', "two\nlines", "cr\rlf\r\n", "", "é ü 中", '=HYPERLINK("x"&A2)', "-1",
               " @x", "\t+1", "\r=1", "\n=2", "\uff1dx", "'=q"]
    infusions = list(Infusion.objects.order_by("pk")[:len(awkward)])
    assert len(infusions) == len(awkward)
    for infusion, lot in zip(infusions, awkward):
        infusion.lot = lot
        infusion.product = lot or "IVIG"
    infusions[0].start_time = time(9, 30, 15, 500000)
    infusions[1].start_time = time(9, 30, 15, 7)
    infusions[2].end_time = None
    Infusion.objects.bulk_update(infusions, ["lot", "product", "start_time", "end_time"])
    AdverseEvent.objects.update(reviewed_at=datetime(2025, 3, 4, 5, 6, 7, tzinfo=dt_timezone.utc),
                                term='Rash, "itchy"\n')
    AdverseEvent.objects.filter(pk=AdverseEvent.objects.order_by("pk").values("pk")[:1]).update(term="@SUM(A1)")
    # Deviation rows are append-only: a resolution and a new description are new rows that
    # supersede the open ones (left out of both paths).
    deviations = list(ProtocolDeviation.objects.open().order_by("pk")[:3])
    changes = [{"resolved_at": datetime(2025, 3, 4, 23, 59, 59, 10, tzinfo=dt_timezone.utc), "resolution": "x"},
               {"description": ""}, {"description": "+1 day late"}]
    ProtocolDeviation.objects.bulk_create([ProtocolDeviation(**{
        **{f: getattr(d, f) for f in ("patient_id", "cycle_id", "day", "kind", "description", "detected_at")},
        "predecessor": d, "version": d.version + 1, **change}) for d, change in zip(deviations, changes)])
    patients = datasets.cohort()
    fast = _zip_members(patients)
    monkeypatch.setattr(datasets, "sql_text_supported", lambda db="default": False)
    assert _zip_members(patients) == fast
    text = fast["infusions.csv"].decode("utf-8")
    assert '"two\nlines"' in text and "09:30:15.500000" in text and "09:30:15.000007" in text
    assert "'=HYPERLINK" in text and "'\uff1dx" in text and ",'=q," in text and ",''=q," not in text
    assert "'@SUM(A1)" in fast["adverse_events.csv"].decode("utf-8")
    assert "'+1 day late" in fast["deviations.csv"].decode("utf-8")
    assert "2025-03-04T05:06:07+00:00" in fast["adverse_events.csv"].decode("utf-8")
    assert "2025-03-04T23:59:59.000010+00:00" in fast["deviations.csv"].decode("utf-8")


@postgresql_only
def test_copy_of_an_empty_cohort_and_of_one_site(demo, monkeypatch):
    site = Patient.objects.order_by("pk").first().site
    cohorts = [Patient.objects.none(), datasets.cohort(site=site), datasets.cohort(diagnosis="DM")]
    fast = [_zip_members(p) for p in cohorts]
    monkeypatch.setattr(datasets, "sql_text_supported", lambda db="default": False)
    assert [_zip_members(p) for p in cohorts] == fast
    assert fast[0]["infusions.csv"].decode("utf-8").count("\r\n") == 1  # the header only
