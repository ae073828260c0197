"""Which rows: the cohort's tables as the exports see them.

Every table is a list of :class:`Column` (name, label, type, unit, allowed
codes) and generators that stream from the database in chunks: ``tuples``
(typed values in column order), ``rows`` (the same as dicts keyed by column
name) and ``text_rows`` (each cell as the text exports write it, for the CSV
files: text through ``exports.base.spreadsheet_safe``, so that no cell runs as
a formula in a spreadsheet). The data dictionary, the CSV and XLSX files,
SDTM, ODM and FHIR all read from here, so a variable is defined once.

``text_rows`` on PostgreSQL: the cells of the large tables (cycles,
assessments, infusions, adverse events, deviations) are formatted by the
database (``::text`` gives exactly what :func:`as_text` writes for integers,
decimals, booleans and ISO dates). The derived columns of cycles and infusions
are the facts ``visits.services`` stored with the rules (never a second copy of
a rule here), so SQLite and PostgreSQL export the same stored values. Elsewhere,
and for the tables whose derived columns still need the Python rules, typed
tuples go through one converter per column.

De-identified by design: the subject id, site, sex and age in years; dates
as ISO 8601 dates; never names, nor the date or year of birth.
"""

import contextlib
import contextvars
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from itertools import islice

from django.db import connections
from django.db.models import BooleanField, Case, F, Func, Q, TextField, Value, When
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast

from accounts.languages import neutral
from accounts.scoping import scope_to_user_sites
from core import missing
from patients import rules as patient_rules
from patients.models import (Diagnosis, MalignancyHistory, MalignancyStatus, MalignancyCertainty,
                             Patient, PatientStatus, Race, Sex, SuspectedCause)
from medications.models import ConcomitantMedication, DoseUnit, Frequency, Route
from safety.models import ActionTaken, AdverseEvent, Outcome, Relatedness
from safety.rules import CODED_FIELDS, CTCAE_GRADES, SERIOUSNESS_CRITERIA
from visits import rules as visit_rules
from visits.models import (Assessment, AssessmentTimepoint, DeviationKind, DosingBasis, Infusion, MissedCycle,
                           MMTScale, ProtocolDeviation, TreatmentCycle)

from .exports.base import spreadsheet_safe, spreadsheet_safe_sql

CHUNK = 2000
#: Rows per fetch of ``Table.text_rows`` (and per CSV chunk): a full chunk already at
#: 1,000 patients for the tables left to it on PostgreSQL (patients, diagnoses,
#: deviations), so the CSV export's peak memory is the same at 1,000 and 10,000.
TEXT_CHUNK = 500
DEIDENTIFICATION_NOTE = (
    "De-identified: subjects are identified by the study subject id only; site code, sex and "
    "age in whole years at enrolment are given; dates are ISO 8601 dates (YYYY-MM-DD); no names, "
    "no date or year of birth.")
STUDY_OID = "IVIG-PM-DM"


# --- progress: the rows the writers pull from here --------------------------------

#: Rows between two ticks of a :class:`RowCounter` (one addition and one callback per
#: batch, not per row).
TICK_ROWS = 500
_ROW_COUNTER = contextvars.ContextVar("exchange_row_counter", default=None)


class RowCounter:
    """Counts the rows the export writers read from these tables while it is active
    (:func:`counting_rows`), whatever the writer does with them: every table's row
    iterator (``tuples``, ``rows``, ``text_rows``) ticks it in batches of
    ``tick_rows``; a table the database writes without Python seeing its rows (CSV
    through PostgreSQL's ``COPY``) ticks once, whole, when it is written
    (:func:`table_written`). A table read twice counts once (capped at its count in
    ``totals``). ``on_tick(done)`` is called after each tick (the job's throttled
    progress write). Rows a writer reads with queries of its own are not seen here;
    the job reports every row done when the writer has finished."""

    def __init__(self, *, totals=None, on_tick=None, tick_rows=None):
        self.totals = dict(totals or {})
        self.on_tick = on_tick
        self.tick_rows = tick_rows or TICK_ROWS
        self.counts = defaultdict(int)

    @property
    def done(self):
        return sum(min(n, self.totals[name]) if name in self.totals else n for name, n in self.counts.items())

    def add(self, table, rows):
        self.counts[table] += rows
        if self.on_tick is not None:
            self.on_tick(self.done)

    def table_done(self, table):
        if table in self.totals and self.counts[table] < self.totals[table]:
            self.add(table, self.totals[table] - self.counts[table])

    def count(self, table, rows):
        rows = iter(rows)
        while batch := list(islice(rows, self.tick_rows)):
            yield from batch
            self.add(table, len(batch))


@contextlib.contextmanager
def counting_rows(counter):
    """Count the rows read from the tables inside the block (in this thread or task)
    with ``counter``. Outside such a block the iterators are returned untouched (the
    streamed download and the command line pay nothing)."""
    token = _ROW_COUNTER.set(counter)
    try:
        yield counter
    finally:
        _ROW_COUNTER.reset(token)


def _counted(table, rows):
    """``rows`` of ``table``, counted when a :class:`RowCounter` is active."""
    counter = _ROW_COUNTER.get()
    return rows if counter is None else counter.count(table, rows)


def table_written(table, chunks):
    """``chunks`` (the bytes of ``table`` written by the database, e.g. ``COPY``); the
    active counter, if any, counts the whole table once they are all out."""
    yield from chunks
    counter = _ROW_COUNTER.get()
    if counter is not None:
        counter.table_done(table.name if isinstance(table, Table) else table)


def source_text(text):
    """``text`` (a label, perhaps lazily translated: a model choice's) in the source
    language, as plain text: what the data dictionary, ODM and SDTM write whatever the
    language of the request or of the process that first imports this module."""
    with neutral():
        return str(text)


def codes(choices):
    return "; ".join(f"{value}={source_text(label)}" for value, label in choices)


YES_NO = "true=yes; false=no"


@dataclass(frozen=True)
class Column:
    name: str
    label: str
    type: str = "string"  # string, integer, decimal, date, datetime, time, boolean
    unit: str = ""
    codes: str = ""


@dataclass
class Table:
    name: str
    label: str
    columns: list
    tuples: object  # callable(patients queryset) -> iterator of tuples of values, in column order
    count: object  # callable(patients queryset) -> int
    description: str = ""
    #: callable(patients queryset) -> a values_list queryset of the cells as text (NULL for an
    #: empty cell), in column order; PostgreSQL (:func:`sql_text_supported`): see ``text_rows``.
    text_query: object = None
    column_names: list = field(init=False)

    def __post_init__(self):
        self.column_names = [c.name for c in self.columns]

    def rows(self, patients):
        """The rows as dicts keyed by column name."""
        return _dicts(self.column_names, self.tuples(patients))

    def text_rows(self, patients):
        """The rows as the text exports write them: each cell is what :func:`as_text`
        gives for the value, or ``None`` / a ``str``-able value (int, date, time)
        whose ``str()`` is that text (``csv.writer`` writes None as an empty cell);
        the cells of text ("string") columns through ``spreadsheet_safe`` (a text a
        spreadsheet would run as a formula starts with an apostrophe)."""
        if self.text_query is not None and sql_text_supported(patients.db):
            return _counted(self.name, self.text_query(patients).iterator(chunk_size=TEXT_CHUNK))
        rows = self.tuples(patients, chunk_size=TEXT_CHUNK)  # counted there
        convert = [(i, _TEXT_BY_COLUMN_TYPE[c.type]) for i, c in enumerate(self.columns)
                   if c.type in _TEXT_BY_COLUMN_TYPE]
        return _converted(rows, convert) if convert else rows


def sql_text_supported(db="default"):
    """Whether ``Table.text_query`` works on database ``db``: PostgreSQL through psycopg2,
    which sets DateStyle to ISO when it connects (``date::text`` is then YYYY-MM-DD)."""
    if connections[db].vendor != "postgresql":
        return False
    from django.db.backends.postgresql.psycopg_any import is_psycopg3

    return not is_psycopg3


def _dicts(names, tuples):
    for values in tuples:
        yield dict(zip(names, values))


def _converted(rows, convert):
    for row in rows:
        row = list(row)
        for i, to_text in convert:
            row[i] = to_text(row[i])
        yield row


def cohort(*, user=None, site=None, diagnosis=None):
    """The patients an export or report covers: the user's sites (all for the
    command line), optionally one site and one diagnosis."""
    qs = Patient.objects.all()
    if user is not None:
        qs = scope_to_user_sites(qs, user)
    if site:
        qs = qs.filter(site__code=site) if isinstance(site, str) else qs.filter(site=site)
    if diagnosis:
        qs = qs.filter(diagnosis__kind=diagnosis)
    return qs


def _text_query(qs, columns, expressions):
    """``qs`` as a values_list of one SQL expression per column (a field path or an
    expression), each cell the text :func:`as_text` gives for its value, NULL for an
    empty cell: integers, decimals, booleans and dates through ``::text`` (ISO dates:
    see :func:`sql_text_supported`); times and datetimes as ``isoformat()`` writes them
    (six digits of microseconds when there are any; datetimes in UTC, as Django reads
    them, "+00:00"); empty strings as NULL; text through ``spreadsheet_safe_sql``
    (what ``spreadsheet_safe`` does in Python)."""
    cells = {}
    for i, (column, expression) in enumerate(zip(columns, expressions, strict=True)):
        if isinstance(expression, str):
            expression = F(expression)
        if column.type == "time":  # HH:MM:SS, HH:MM:SS.ffffff (PostgreSQL drops trailing zeros)
            expression = Func(expression, template=(
                "CASE WHEN strpos(%(expressions)s::text, '.') = 0 THEN %(expressions)s::text "
                "ELSE rpad(%(expressions)s::text, 15, '0') END"), output_field=TextField())
        elif column.type == "datetime":
            expression = Func(expression, template=(
                "(to_char(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS') || CASE WHEN "
                "to_char(%(expressions)s AT TIME ZONE 'UTC', 'US') = '000000' THEN '' "
                "ELSE to_char(%(expressions)s AT TIME ZONE 'UTC', '.US') END || '+00:00')"), output_field=TextField())
        elif column.type == "string":
            expression = spreadsheet_safe_sql(
                Func(Cast(expression, TextField()), Value(""), function="NULLIF", output_field=TextField()))
        else:
            expression = Cast(expression, TextField())
        cells[f"cell{i}"] = expression
    return qs.annotate(**cells).values_list(*cells)


# --- missing-data codes (core.missing) -----------------------------------------

MISSING_CODES_TEXT = "; ".join(f"{code}={label}" for code, label in missing.EXPORT_LABELS.items())


def missing_column(column):
    """The companion column of an optional field: its missing-data code, the value empty."""
    return Column(f"{column.name}{missing.COLUMN_SUFFIX}",
                  f"{column.label}: missing-data code (the value is empty when set)", codes=MISSING_CODES_TEXT)


def with_missing(model, columns, sources, prefix=""):
    """``columns`` and their ``sources`` with a companion column after each column that is
    one of ``model.MISSING_ALLOWED`` (the column named as the field): the code, read from
    the record's ``missing_codes`` (``prefix``: the path to the record). A coded yes/no
    value is exported empty (not "false"): the code says why."""
    allowed = set(model.MISSING_ALLOWED)
    out_columns, out_sources = [], []
    for column, source in zip(columns, sources, strict=True):
        if column.name in allowed:
            codes_path = f"{prefix}missing_codes"
            if column.type == "boolean":
                source = Case(When(Q(**{f"{codes_path}__has_key": column.name}), then=Value(None)),
                              default=F(source), output_field=BooleanField())
            out_columns += [column, missing_column(column)]
            out_sources += [source, KeyTextTransform(column.name, codes_path)]
        else:
            out_columns.append(column)
            out_sources.append(source)
    return out_columns, out_sources


# --- patients ----------------------------------------------------------------

PATIENT_COLUMNS = [
    Column("subject_id", "Study subject id"),
    Column("site", "Site code"),
    Column("sex", "Sex", codes=codes(Sex.choices)),
    Column("age", "Age at enrolment", "integer", "years"),
    Column("race", "Race (CDISC)", codes=codes(Race.choices)),
    Column("consent_date", "Date of informed consent", "date"),
    Column("enrolment_date", "Enrolment date", "date"),
    Column("symptom_onset_date", "Myopathy symptom onset", "date"),
    Column("first_infusion_date", "First IVIG infusion", "date"),
    Column("disease_duration_months", "Disease duration before the first infusion", "decimal", "months"),
    Column("steroid_contraindication", "Contraindication to corticosteroids", "boolean", codes=YES_NO),
    Column("renal_risk", f"Renal risk (rate limit {visit_rules.MAX_RATE_AT_RISK_ML_PER_KG_MIN} mL/kg/min)",
           "boolean", codes=YES_NO),
    Column("renal_risk_since", "Renal risk known since (cycles from this date on are judged at risk)", "date"),
    Column("thrombotic_risk", f"Thrombotic risk (rate limit {visit_rules.MAX_RATE_AT_RISK_ML_PER_KG_MIN} mL/kg/min)",
           "boolean", codes=YES_NO),
    Column("thrombotic_risk_since", "Thrombotic risk known since (cycles from this date on are judged at risk)",
           "date"),
    Column("suspected_cause", "Suspected cause", codes=codes(SuspectedCause.choices)),
    Column("suspected_cause_detail", "Suspected cause, detail"),
    Column("status", "Study status", codes=codes(PatientStatus.choices)),
    Column("withdrawal_date", "Withdrawal date", "date"),
    Column("withdrawal_reason", "Withdrawal reason"),
]


PATIENT_SOURCES = ["subject_id", "site__code", "sex", "age_at_enrolment", "race", "consent_date", "enrolment_date",
                   "symptom_onset_date", "first_infusion_date", "disease_duration_months",
                   "steroid_contraindication", "renal_risk", "renal_risk_since", "thrombotic_risk",
                   "thrombotic_risk_since", "suspected_cause",
                   "suspected_cause_detail", "status", "withdrawal_date", "withdrawal_reason"]


def patient_tuples(patients, chunk_size=CHUNK):
    """The patients with their stored facts (age, first infusion, disease duration:
    ``patients.services``)."""
    return _counted("patients", patients.order_by("subject_id").values_list(*PATIENT_SOURCES)
                    .iterator(chunk_size=chunk_size))


def patient_rows(patients):
    return _dicts([c.name for c in PATIENT_COLUMNS], patient_tuples(patients))


# --- diagnoses ---------------------------------------------------------------

DIAGNOSIS_FLAGS = [
    ("bp_weakness", "B&P 1: symmetric proximal weakness"),
    ("bp_biopsy", "B&P 2: biopsy evidence of myositis"),
    ("bp_enzymes", "B&P 3: raised muscle enzymes"),
    ("bp_emg", "B&P 4: myopathic EMG"),
    ("heliotrope_rash", "Heliotrope rash"),
    ("gottron_papules", "Gottron's papules"),
    ("gottron_sign", "Gottron's sign"),
    ("upper_limb_weakness", "Proximal upper-limb weakness"),
    ("lower_limb_weakness", "Proximal lower-limb weakness"),
    ("neck_flexors_weaker", "Neck flexors weaker than extensors"),
    ("legs_proximal_weaker", "Legs: proximal weaker than distal"),
    ("dysphagia", "Dysphagia or oesophageal dysmotility"),
    ("anti_jo1", "Anti-Jo-1 antibody"),
    ("biopsy_performed", "Muscle biopsy performed"),
    ("biopsy_endomysial_infiltrate", "Biopsy: endomysial infiltrate"),
    ("biopsy_perimysial_infiltrate", "Biopsy: perimysial/perivascular infiltrate"),
    ("biopsy_perifascicular_atrophy", "Biopsy: perifascicular atrophy"),
    ("biopsy_rimmed_vacuoles", "Biopsy: rimmed vacuoles"),
]
DIAGNOSIS_COLUMNS = [
    Column("subject_id", "Study subject id"),
    Column("diagnosis", "Diagnosis", codes="PM=polymyositis; DM=dermatomyositis"),
    Column("diagnosis_date", "Diagnosis date", "date"),
    *[Column(name, label, "boolean", codes=YES_NO) for name, label in DIAGNOSIS_FLAGS],
    Column("dm_rash", "B&P 5: typical DM rash (derived)", "boolean", codes=YES_NO),
    Column("bohan_peter_certainty", "Bohan & Peter certainty (derived)",
           codes="; ".join(c.value for c in patient_rules.Certainty)),
    Column("age_at_onset", "Age at first symptom", "integer", "years"),
    Column("eular_acr_score", "2017 EULAR/ACR score (derived)", "decimal", "points"),
    Column("eular_acr_class", "2017 EULAR/ACR class (derived)",
           codes="; ".join(c.value for c in patient_rules.IIMClass)),
]


DIAGNOSIS_COLUMNS, DIAGNOSIS_SOURCES = with_missing(
    Diagnosis, DIAGNOSIS_COLUMNS,
    ["patient__subject_id", "kind", "diagnosis_date", *[name for name, _ in DIAGNOSIS_FLAGS], "rash", "certainty",
     "patient__age_at_onset", "eular_acr_score", "eular_acr_class"])


def diagnosis_tuples(patients, chunk_size=CHUNK):
    """The diagnoses with their stored facts (rash, certainty, the patient's age at
    onset, EULAR/ACR score and class: ``patients.services``)."""
    return _counted("diagnoses", (Diagnosis.objects.filter(patient__in=patients).order_by("patient__subject_id")
            .values_list(*DIAGNOSIS_SOURCES)
            .iterator(chunk_size=chunk_size)))


def diagnosis_rows(patients):
    return _dicts([c.name for c in DIAGNOSIS_COLUMNS], diagnosis_tuples(patients))


# --- malignancies ------------------------------------------------------------

MALIGNANCY_COLUMNS = [
    Column("subject_id", "Study subject id"),
    Column("malignancy", "Malignancy type / site"),
    Column("diagnosis_date", "Malignancy diagnosis date", "date"),
    Column("status", "Status", codes=codes(MalignancyStatus.choices)),
    Column("certainty", "Certainty", codes=codes(MalignancyCertainty.choices)),
    Column("timing", "Timing relative to IVIG treatment (derived)",
           codes="before=before the first infusion; during=from the first infusion to the end-of-treatment "
                 "visit (the last infusion when there is none); after=after it"),
]


def malignancy_tuples(patients, chunk_size=CHUNK):
    """The current malignancies with their stored timing (``patients.services``)."""
    return _counted("malignancies", (MalignancyHistory.objects.current().filter(patient__in=patients)
            .order_by("patient__subject_id", "diagnosis_date", "pk")
            .values_list("patient__subject_id", "malignancy_type", "diagnosis_date", "status", "certainty",
                         "timing")
            .iterator(chunk_size=chunk_size)))


def malignancy_rows(patients):
    return _dicts([c.name for c in MALIGNANCY_COLUMNS], malignancy_tuples(patients))


# --- cycles ------------------------------------------------------------------

CYCLE_COLUMNS = [
    Column("subject_id", "Study subject id"),
    Column("cycle", "Cycle number", "integer"),
    Column("start_date", "Cycle start (day 1)", "date"),
    Column("planned_start_date", f"Planned start (previous cycle + {visit_rules.CYCLE_INTERVAL_DAYS} days)", "date"),
    Column("weight_kg", "Weight", "decimal", "kg"),
    Column("height_cm", "Height", "decimal", "cm"),
    Column("dosing_basis", "Dosing basis", codes=codes(DosingBasis.choices)),
    Column("dosing_weight_kg", "Dosing weight (derived)", "decimal", "kg"),
    Column("prescribed_daily_dose_g", f"Prescribed daily dose, {visit_rules.DOSE_G_PER_KG_PER_DAY} g/kg (derived)",
           "decimal", "g"),
]


def _cycles(patients):
    return TreatmentCycle.objects.filter(patient__in=patients).order_by("patient__subject_id", "number")


CYCLE_COLUMNS, CYCLE_SOURCES = with_missing(
    TreatmentCycle, CYCLE_COLUMNS,
    ["patient__subject_id", "number", "start_date", "planned_start_date", "weight_kg", "height_cm",
     "dosing_basis", "dosing_weight_kg", "prescribed_daily_dose_g"])


def cycle_tuples(patients, chunk_size=CHUNK):
    """The derived columns are the facts stored by ``visits.services`` (``visits.rules.derive_cycle``)."""
    return _counted("cycles", _cycles(patients).values_list(*CYCLE_SOURCES)
                    .iterator(chunk_size=chunk_size))


def cycle_rows(patients):
    return _dicts([c.name for c in CYCLE_COLUMNS], cycle_tuples(patients))


def cycle_text(patients):
    return _text_query(_cycles(patients), CYCLE_COLUMNS, CYCLE_SOURCES)


# --- assessments -------------------------------------------------------------

GRADE_COLUMNS = [Column(name, f"MMT-8: {source_text(label)}", "integer", "grade")
                 for name, label in visit_rules.MMT8_GROUPS]
LAB_COLUMNS = [
    Column("ck_u_per_l", "CK", "decimal", "U/L"),
    Column("ck_lln_u_per_l", "CK lower limit of normal (laboratory)", "decimal", "U/L"),
    Column("ck_uln_u_per_l", "CK upper limit of normal (laboratory)", "decimal", "U/L"),
    Column("aldolase_u_per_l", "Aldolase", "decimal", "U/L"),
    Column("aldolase_uln_u_per_l", "Aldolase upper limit of normal", "decimal", "U/L"),
    Column("ldh_u_per_l", "LDH", "decimal", "U/L"),
    Column("ldh_uln_u_per_l", "LDH upper limit of normal", "decimal", "U/L"),
    Column("ast_u_per_l", "AST", "decimal", "U/L"),
    Column("ast_uln_u_per_l", "AST upper limit of normal", "decimal", "U/L"),
    Column("alt_u_per_l", "ALT", "decimal", "U/L"),
    Column("alt_uln_u_per_l", "ALT upper limit of normal", "decimal", "U/L"),
]
SCORE_COLUMNS = [
    Column("physician_global", "Physician global activity", "decimal", "0-10"),
    Column("patient_global", "Patient global activity", "decimal", "0-10"),
    Column("extramuscular_global", "Extramuscular activity", "decimal", "0-10"),
    Column("haq", "HAQ disability index", "decimal", "0-3"),
]
ASSESSMENT_COLUMNS = [
    Column("subject_id", "Study subject id"),
    Column("cycle", "Cycle number (empty at end of treatment)", "integer"),
    Column("timepoint", "Timepoint", codes=codes(AssessmentTimepoint.choices)),
    Column("assessment_date", "Assessment date", "date"),
    Column("mmt_scale", "Muscle testing scale", codes=codes(MMTScale.choices)),
    *GRADE_COLUMNS,
    Column("mmt_total_reported", "MMT-8 total reported alone (no grades recorded)", "integer", "points"),
    Column("mmt_total", "MMT-8 total (derived: sum of the grades, else the total reported alone)", "integer",
           "points"),
    *LAB_COLUMNS,
    *SCORE_COLUMNS,
]
ASSESSMENT_FIELDS = ([c.name for c in GRADE_COLUMNS] + ["mmt_total_reported", "mmt_total"]
                     + [c.name for c in LAB_COLUMNS]
                     + [c.name for c in SCORE_COLUMNS])


ASSESSMENT_COLUMNS, ASSESSMENT_SOURCES = with_missing(
    Assessment, ASSESSMENT_COLUMNS,
    ["patient__subject_id", "cycle__number", "timepoint", "assessment_date", "mmt_scale", *ASSESSMENT_FIELDS])


def _assessments(patients):
    return (Assessment.objects.current().filter(patient__in=patients)
            .order_by("patient__subject_id", "assessment_date", "pk"))


def assessment_tuples(patients, chunk_size=CHUNK):
    return _counted("assessments", _assessments(patients).values_list(*ASSESSMENT_SOURCES)
                    .iterator(chunk_size=chunk_size))


def assessment_rows(patients):
    return _dicts([c.name for c in ASSESSMENT_COLUMNS], assessment_tuples(patients))


def assessment_text(patients):
    return _text_query(_assessments(patients), ASSESSMENT_COLUMNS, ASSESSMENT_SOURCES)


# --- infusions ---------------------------------------------------------------

INFUSION_COLUMNS = [
    Column("subject_id", "Study subject id"),
    Column("cycle", "Cycle number", "integer"),
    Column("day", "Infusion day", "integer", codes="1=day 1; 2=day 2"),
    Column("infusion_date", "Infusion date", "date"),
    Column("start_time", "Start time (local)", "time"),
    Column("end_time", "End time (local)", "time"),
    Column("product", "Product"),
    Column("lot", "Lot number"),
    Column("concentration_pct", "Concentration", "decimal", "%"),
    Column("volume_ml", "Volume", "decimal", "mL"),
    Column("dose_g", "Dose given", "decimal", "g"),
    Column("prescribed_dose_g", f"Prescribed dose, {visit_rules.DOSE_G_PER_KG_PER_DAY} g/kg of dosing weight (derived)",
           "decimal", "g"),
    Column("max_rate_ml_per_h", "Maximum rate", "decimal", "mL/h"),
    Column("max_rate_ml_per_kg_min", "Maximum rate per kg of body weight (derived)", "decimal", "mL/kg/min"),
]


def _infusions(patients):
    return (Infusion.objects.filter(cycle__patient__in=patients)
            .order_by("cycle__patient__subject_id", "cycle__number", "day"))


INFUSION_COLUMNS, INFUSION_SOURCES = with_missing(
    Infusion, INFUSION_COLUMNS,
    ["cycle__patient__subject_id", "cycle__number", "day", "infusion_date", "start_time",
     "end_time", "product", "lot", "concentration_pct", "volume_ml", "dose_g", "prescribed_dose_g",
     "max_rate_ml_per_h", "rate_ml_per_kg_min"])


def infusion_tuples(patients, chunk_size=CHUNK):
    """The derived columns are the facts stored by ``visits.services`` (``visits.rules.derive_infusion``)."""
    return _counted("infusions", _infusions(patients).values_list(*INFUSION_SOURCES)
                    .iterator(chunk_size=chunk_size))


def infusion_rows(patients):
    return _dicts([c.name for c in INFUSION_COLUMNS], infusion_tuples(patients))


def infusion_text(patients):
    return _text_query(_infusions(patients), INFUSION_COLUMNS, INFUSION_SOURCES)


# --- adverse events ----------------------------------------------------------

AE_COLUMNS = [
    Column("subject_id", "Study subject id"),
    Column("ae_id", "Adverse event number within the study", "integer"),
    Column("term", "Event term (verbatim)"),
    Column("meddra_llt", "Coded term: MedDRA lowest level term (CTCAE v5.0 term)"),
    Column("meddra_llt_code", "Coded term: MedDRA LLT code"),
    Column("meddra_pt", "Coded term: MedDRA preferred term"),
    Column("meddra_pt_code", "Coded term: MedDRA PT code"),
    Column("meddra_soc", "Coded term: MedDRA primary system organ class"),
    Column("meddra_soc_code", "Coded term: MedDRA SOC code"),
    Column("coding_dictionary", "Coding dictionary and version (empty: not coded yet)"),
    Column("cycle", "Cycle of the linked infusion", "integer"),
    Column("day", "Day of the linked infusion", "integer"),
    Column("onset_date", "Onset date", "date"),
    Column("end_date", "End date (empty while ongoing)", "date"),
    Column("grade", "CTCAE v5 grade", "integer", codes=codes(CTCAE_GRADES.items())),
    Column("serious", "Serious (ICH E2A)", "boolean", codes=YES_NO),
    *[Column(name, f"Seriousness: {source_text(label)}", "boolean", codes=YES_NO)
      for name, label in SERIOUSNESS_CRITERIA],
    Column("relatedness", "Relatedness to IVIG (WHO-UMC)", codes=codes(Relatedness.choices)),
    Column("action_taken", "Action taken with IVIG", codes=codes(ActionTaken.choices)),
    Column("outcome", "Outcome", codes=codes(Outcome.choices)),
    Column("entered_at", "Entered (UTC)", "datetime"),
    Column("aware_at", "Site aware of the event (UTC)", "datetime"),
    Column("report_due_at", "Serious event due: 24 h after awareness (UTC)", "datetime"),
    Column("reported_late", "Serious event entered more than 24 h after awareness", "boolean", codes=YES_NO),
    Column("reviewed_at", "Expedited review done (UTC)", "datetime"),
]
AE_CRITERIA = [name for name, _ in SERIOUSNESS_CRITERIA]


AE_SOURCES = ["patient__subject_id", "pk", "term", *CODED_FIELDS, "infusion__cycle__number", "infusion__day", "onset_date",
              "end_date", "grade", "serious", *AE_CRITERIA, "relatedness", "action_taken", "outcome", "created_at",
              "aware_at", "report_due_at", "reported_late", "reviewed_at"]


def _adverse_events(patients):
    return (AdverseEvent.objects.current().filter(patient__in=patients)
            .order_by("patient__subject_id", "onset_date", "pk"))


def adverse_event_tuples(patients, chunk_size=CHUNK):
    return _counted("adverse_events", _adverse_events(patients).values_list(*AE_SOURCES)
                    .iterator(chunk_size=chunk_size))


def adverse_event_rows(patients):
    return _dicts([c.name for c in AE_COLUMNS], adverse_event_tuples(patients))


def adverse_event_text(patients):
    return _text_query(_adverse_events(patients), AE_COLUMNS, AE_SOURCES)


# --- deviations --------------------------------------------------------------

DEVIATION_COLUMNS = [
    Column("subject_id", "Study subject id"),
    Column("cycle", "Cycle number", "integer"),
    Column("day", "Infusion day (0 = whole cycle)", "integer"),
    Column("kind", "Deviation", codes=codes(DeviationKind.choices)),
    Column("description", "Description"),
    Column("detected_at", "Detected (UTC)", "datetime"),
    Column("resolved_at", "Resolved by a correction (UTC)", "datetime"),
    Column("resolution", "Resolution"),
]


DEVIATION_SOURCES = ["patient__subject_id", "cycle__number", "day", "kind", "description", "detected_at",
                     "resolved_at", "resolution"]


def _deviations(patients):
    return (ProtocolDeviation.objects.current().filter(patient__in=patients)
            .order_by("patient__subject_id", "cycle__number", "day", "pk"))


def deviation_tuples(patients, chunk_size=CHUNK):
    return _counted("deviations", _deviations(patients).values_list(*DEVIATION_SOURCES)
                    .iterator(chunk_size=chunk_size))


def deviation_rows(patients):
    return _dicts([c.name for c in DEVIATION_COLUMNS], deviation_tuples(patients))


def deviation_text(patients):
    return _text_query(_deviations(patients), DEVIATION_COLUMNS, DEVIATION_SOURCES)


# --- missed cycles -----------------------------------------------------------

MISSED_CYCLE_COLUMNS = [
    Column("subject_id", "Study subject id"),
    Column("planned_date", "Planned day 1 of the cycle not given", "date"),
    Column("reason", "Why the cycle was missed", codes=codes(visit_rules.MissedCycleReason.choices)),
    Column("reason_detail", "Details"),
]

MISSED_CYCLE_SOURCES = ["patient__subject_id", "planned_date", "reason", "reason_detail"]


def _missed_cycles(patients):
    return MissedCycle.objects.current().filter(patient__in=patients).order_by("patient__subject_id", "planned_date")


def missed_cycle_tuples(patients, chunk_size=CHUNK):
    """The current missed-cycle records (months without infusion, ``visits.MissedCycle``)."""
    return _counted("missed_cycles", _missed_cycles(patients).values_list(*MISSED_CYCLE_SOURCES)
                    .iterator(chunk_size=chunk_size))


def missed_cycle_rows(patients):
    return _dicts([c.name for c in MISSED_CYCLE_COLUMNS], missed_cycle_tuples(patients))


def missed_cycle_text(patients):
    return _text_query(_missed_cycles(patients), MISSED_CYCLE_COLUMNS, MISSED_CYCLE_SOURCES)


# --- concomitant medications -------------------------------------------------

MEDICATION_COLUMNS = [
    Column("subject_id", "Study subject id"),
    Column("medication_id", "Medication number within the study", "integer"),
    Column("drug_name", "Drug name as reported"),
    Column("atc_code", "WHO ATC code (level 5)"),
    Column("atc_name", "WHO ATC name of the code (derived; empty for a code outside the built-in list)"),
    Column("atc_class_code", "WHO ATC class: level 4 (derived)"),
    Column("atc_class_name", "WHO ATC class name (derived; empty outside the built-in list)"),
    Column("indication", "Indication"),
    Column("dose", "Dose per administration", "decimal"),
    Column("dose_unit", "Dose unit", codes=codes(DoseUnit.choices)),
    Column("route", "Route", codes=codes(Route.choices)),
    Column("frequency", "Frequency", codes=codes(Frequency.choices)),
    Column("start_date", "Start date", "date"),
    Column("end_date", "End date (empty while ongoing)", "date"),
    Column("ongoing", "Ongoing", "boolean", codes=YES_NO),
    Column("corticosteroid", "Corticosteroid for systemic use, ATC H02 (derived)", "boolean", codes=YES_NO),
    Column("immunosuppressant", "Immunosuppressant, ATC L04, methotrexate, rituximab, cyclophosphamide (derived)",
           "boolean", codes=YES_NO),
    Column("statin", "Statin, ATC C10AA / C10B (derived)", "boolean", codes=YES_NO),
    Column("oestrogen", "Oestrogen, ATC G03C / G03AA / G03AB / G03F (derived)", "boolean", codes=YES_NO),
    Column("started_during_study", "Started on or after the first IVIG infusion (derived)", "boolean",
           codes=YES_NO),
]

MEDICATION_SOURCES = ["patient__subject_id", "pk", "drug_name", "atc_code", "atc_name", "atc_class_code",
                      "atc_class_name", "indication", "dose", "dose_unit", "route", "frequency", "start_date", "end_date", "ongoing",
                      "is_corticosteroid", "is_immunosuppressant", "is_statin", "is_oestrogen",
                      "started_during_study"]


def _medications(patients):
    return (ConcomitantMedication.objects.current().filter(patient__in=patients)
            .order_by("patient__subject_id", "start_date", "pk"))


def medication_tuples(patients, chunk_size=CHUNK):
    """The current concomitant medications with their stored flags (``medications.services``)."""
    return _counted("medications", _medications(patients).values_list(*MEDICATION_SOURCES)
                    .iterator(chunk_size=chunk_size))


def medication_rows(patients):
    return _dicts([c.name for c in MEDICATION_COLUMNS], medication_tuples(patients))


def medication_text(patients):
    return _text_query(_medications(patients), MEDICATION_COLUMNS, MEDICATION_SOURCES)


TABLES = [
    Table("patients", "Patients", PATIENT_COLUMNS, patient_tuples, lambda p: p.count()),
    Table("diagnoses", "Diagnoses (PM/DM)", DIAGNOSIS_COLUMNS, diagnosis_tuples,
          lambda p: Diagnosis.objects.filter(patient__in=p).count()),
    Table("malignancies", "Malignancy history (voided entries excluded)", MALIGNANCY_COLUMNS, malignancy_tuples,
          lambda p: MalignancyHistory.objects.current().filter(patient__in=p).count()),
    Table("cycles", "Treatment cycles", CYCLE_COLUMNS, cycle_tuples,
          lambda p: TreatmentCycle.objects.filter(patient__in=p).count(), text_query=cycle_text),
    Table("assessments", "Assessments (before each cycle; end of treatment)", ASSESSMENT_COLUMNS,
          assessment_tuples, lambda p: Assessment.objects.current().filter(patient__in=p).count(),
          text_query=assessment_text),
    Table("infusions", "IVIG infusions", INFUSION_COLUMNS, infusion_tuples,
          lambda p: Infusion.objects.filter(cycle__patient__in=p).count(), text_query=infusion_text),
    Table("adverse_events", "Adverse events (voided entries excluded)", AE_COLUMNS, adverse_event_tuples,
          lambda p: AdverseEvent.objects.current().filter(patient__in=p).count(), text_query=adverse_event_text),
    Table("deviations", "Protocol deviations", DEVIATION_COLUMNS, deviation_tuples,
          lambda p: ProtocolDeviation.objects.current().filter(patient__in=p).count(),
          text_query=deviation_text),
    Table("missed_cycles", "Missed cycles (months without infusion; voided entries excluded)", MISSED_CYCLE_COLUMNS,
          missed_cycle_tuples, lambda p: MissedCycle.objects.current().filter(patient__in=p).count(),
          text_query=missed_cycle_text),
    Table("medications", "Concomitant medications (voided entries excluded)", MEDICATION_COLUMNS,
          medication_tuples, lambda p: ConcomitantMedication.objects.current().filter(patient__in=p).count(),
          text_query=medication_text),
]
TABLES_BY_NAME = {t.name: t for t in TABLES}

DICTIONARY_COLUMNS = ["variable", "table", "label", "type", "unit", "allowed_codes"]


def dictionary_rows():
    yield {"variable": "*", "table": "*", "label": DEIDENTIFICATION_NOTE, "type": "", "unit": "",
           "allowed_codes": ""}
    for table in TABLES:
        for column in table.columns:
            yield {"variable": column.name, "table": table.name, "label": column.label, "type": column.type,
                   "unit": column.unit, "allowed_codes": column.codes}


def row_counts(patients):
    return {t.name: t.count(patients) for t in TABLES}


def _iso(value):
    return value.isoformat()


#: as_text by exact type first: it runs for every cell of every text export.
_TEXT_BY_TYPE = {
    str: str, int: str, bool: lambda v: "true" if v else "false", Decimal: lambda v: format(v, "f"),
    date: _iso, datetime: _iso, time: _iso,
}


def _decimal_text(value):
    return "" if value is None else format(value, "f")


def _datetime_text(value):
    return "" if value is None else value.isoformat()


#: text_rows: the converter of a column by its declared type, for the types whose
#: ``str()`` is not the :func:`as_text` text (``str()`` of int, date and time is;
#: csv.writer writes None as an empty cell), and for text, which a spreadsheet must not
#: run as a formula (``spreadsheet_safe``). A column's values are of its type.
_TEXT_BY_COLUMN_TYPE = {
    "string": spreadsheet_safe,
    "boolean": {True: "true", False: "false", None: ""}.__getitem__,
    "decimal": _decimal_text,
    "datetime": _datetime_text,
}


def as_text(value):
    """A value as it appears in a text export: ISO dates, plain decimals, true/false."""
    convert = _TEXT_BY_TYPE.get(type(value))
    if convert is not None:
        return convert(value)
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)
