"""Which rows: the cohort's tables as the exports see them.

Every table is a list of :class:`Column` (name, label, type, unit, allowed
codes) and a generator of rows (dicts keyed by column name) that streams
from the database in chunks. The data dictionary, the CSV and XLSX files,
SDTM, ODM and FHIR all read from here, so a variable is defined once.

De-identified by design: the subject id, site, sex and age in years; dates
as ISO 8601 dates; never names, nor the date or year of birth.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal

from django.db.models import F, Max, Min, OuterRef, Subquery, Window
from django.db.models.functions import Lag

from accounts.scoping import scope_to_user_sites
from patients import rules as patient_rules
from patients.models import (Diagnosis, MalignancyHistory, MalignancyStatus, MalignancyCertainty,
                             Patient, PatientStatus, Race, Sex, SuspectedCause)
from safety.models import ActionTaken, AdverseEvent, Outcome, Relatedness
from safety.rules import CTCAE_GRADES, SERIOUSNESS_CRITERIA
from visits import rules as visit_rules
from visits.models import (Assessment, AssessmentTimepoint, DeviationKind, DosingBasis, Infusion,
                           MMTScale, ProtocolDeviation, TreatmentCycle)

CHUNK = 2000
DEIDENTIFICATION_NOTE = (
    "De-identified: subjects are identified by the study subject id only; site code, sex and "
    "age in whole years at enrolment are given; dates are ISO 8601 dates (YYYY-MM-DD); no names, "
    "no date or year of birth.")
STUDY_OID = "IVIG-PM-DM"


def codes(choices):
    return "; ".join(f"{value}={label}" for value, label in choices)


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
    rows: object  # callable(patients queryset) -> iterator of dicts
    count: object  # callable(patients queryset) -> int
    description: str = ""
    column_names: list = field(init=False)

    def __post_init__(self):
        self.column_names = [c.name for c in self.columns]


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


def first_infusion_subquery(outer="pk"):
    return Subquery(Infusion.objects.filter(cycle__patient=OuterRef(outer)).order_by()
                    .values("cycle__patient").annotate(d=Min("infusion_date")).values("d")[:1])


def last_infusion_subquery(outer="pk"):
    return Subquery(Infusion.objects.filter(cycle__patient=OuterRef(outer)).order_by()
                    .values("cycle__patient").annotate(d=Max("infusion_date")).values("d")[:1])


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
    Column("renal_risk", "Renal risk (rate limit 0.03 mL/kg/min)", "boolean", codes=YES_NO),
    Column("thrombotic_risk", "Thrombotic risk (rate limit 0.03 mL/kg/min)", "boolean", codes=YES_NO),
    Column("suspected_cause", "Suspected cause", codes=codes(SuspectedCause.choices)),
    Column("suspected_cause_detail", "Suspected cause, detail"),
    Column("status", "Study status", codes=codes(PatientStatus.choices)),
    Column("withdrawal_date", "Withdrawal date", "date"),
    Column("withdrawal_reason", "Withdrawal reason"),
]


def patient_rows(patients):
    qs = (patients.order_by("subject_id").annotate(first_inf=first_infusion_subquery())
          .values_list("subject_id", "site__code", "sex", "birth_year", "birth_date", "race",
                       "consent_date", "enrolment_date", "symptom_onset_date", "first_inf",
                       "steroid_contraindication", "renal_risk", "thrombotic_risk",
                       "suspected_cause", "suspected_cause_detail", "status", "withdrawal_date",
                       "withdrawal_reason"))
    for (subject, site, sex, birth_year, birth_date, race, consent, enrol, onset, first, steroid,
         renal, thrombotic, cause, detail, status, withdrawn, reason) in qs.iterator(chunk_size=CHUNK):
        yield {
            "subject_id": subject, "site": site, "sex": sex,
            "age": patient_rules.age_at(enrol, birth_year, birth_date), "race": race,
            "consent_date": consent, "enrolment_date": enrol, "symptom_onset_date": onset,
            "first_infusion_date": first,
            "disease_duration_months": patient_rules.disease_duration_months(onset, first) if first else None,
            "steroid_contraindication": steroid, "renal_risk": renal, "thrombotic_risk": thrombotic,
            "suspected_cause": cause, "suspected_cause_detail": detail, "status": status,
            "withdrawal_date": withdrawn, "withdrawal_reason": reason,
        }


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


def diagnosis_rows(patients):
    qs = (Diagnosis.objects.filter(patient__in=patients).select_related("patient")
          .order_by("patient__subject_id"))
    for dx in qs.iterator(chunk_size=CHUNK):
        row = {"subject_id": dx.patient.subject_id, "diagnosis": dx.kind, "diagnosis_date": dx.diagnosis_date}
        row.update({name: getattr(dx, name) for name, _ in DIAGNOSIS_FLAGS})
        row.update(dm_rash=dx.rash, bohan_peter_certainty=dx.certainty.value,
                   age_at_onset=dx.patient.age_at_onset, eular_acr_score=dx.eular_acr_score,
                   eular_acr_class=dx.eular_acr_class.value)
        yield row


# --- malignancies ------------------------------------------------------------

MALIGNANCY_COLUMNS = [
    Column("subject_id", "Study subject id"),
    Column("malignancy", "Malignancy type / site"),
    Column("diagnosis_date", "Malignancy diagnosis date", "date"),
    Column("status", "Status", codes=codes(MalignancyStatus.choices)),
    Column("certainty", "Certainty", codes=codes(MalignancyCertainty.choices)),
    Column("timing", "Timing relative to IVIG treatment (derived)",
           codes="before=before the first infusion; during=during treatment; after=after the end of treatment"),
]


def malignancy_rows(patients):
    qs = (MalignancyHistory.objects.current().filter(patient__in=patients)
          .annotate(first=first_infusion_subquery("patient"), last=last_infusion_subquery("patient"))
          .order_by("patient__subject_id", "diagnosis_date", "pk")
          .values_list("patient__subject_id", "malignancy_type", "diagnosis_date", "status",
                       "certainty", "patient__status", "first", "last"))
    for subject, kind, when, status, certainty, patient_status, first, last in qs.iterator(chunk_size=CHUNK):
        end = last if patient_status in (PatientStatus.COMPLETED, PatientStatus.WITHDRAWN) else None
        yield {"subject_id": subject, "malignancy": kind, "diagnosis_date": when, "status": status,
               "certainty": certainty, "timing": patient_rules.malignancy_timing(when, first, end).value}


# --- cycles ------------------------------------------------------------------

CYCLE_COLUMNS = [
    Column("subject_id", "Study subject id"),
    Column("cycle", "Cycle number", "integer"),
    Column("start_date", "Cycle start (day 1)", "date"),
    Column("planned_start_date", "Planned start (previous cycle + 28 days)", "date"),
    Column("weight_kg", "Weight", "decimal", "kg"),
    Column("height_cm", "Height", "decimal", "cm"),
    Column("dosing_basis", "Dosing basis", codes=codes(DosingBasis.choices)),
    Column("dosing_weight_kg", "Dosing weight (derived)", "decimal", "kg"),
    Column("prescribed_daily_dose_g", "Prescribed daily dose, 1 g/kg (derived)", "decimal", "g"),
]


def cycle_rows(patients):
    qs = (TreatmentCycle.objects.filter(patient__in=patients)
          .annotate(previous_start=Window(Lag("start_date"), partition_by=[F("patient_id")],
                                          order_by=F("number").asc()))
          .order_by("patient__subject_id", "number")
          .values_list("patient__subject_id", "number", "start_date", "previous_start", "weight_kg",
                       "height_cm", "dosing_basis", "patient__sex"))
    for subject, number, start, previous, weight, height, basis, sex in qs.iterator(chunk_size=CHUNK):
        dosing = None
        if weight and (basis == DosingBasis.ACTUAL or height):
            dosing = visit_rules.dosing_weight_kg(basis, weight_kg=weight, height_cm=height, sex=sex)
        yield {"subject_id": subject, "cycle": number, "start_date": start,
               "planned_start_date": visit_rules.planned_start(previous), "weight_kg": weight,
               "height_cm": height, "dosing_basis": basis, "dosing_weight_kg": dosing,
               "prescribed_daily_dose_g": visit_rules.prescribed_daily_dose_g(dosing) if dosing else None}


# --- assessments -------------------------------------------------------------

GRADE_COLUMNS = [Column(name, f"MMT-8: {label}", "integer", "grade") for name, label in visit_rules.MMT8_GROUPS]
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
    Column("mmt_total", "MMT-8 total (derived)", "integer", "points"),
    *LAB_COLUMNS,
    *SCORE_COLUMNS,
]
ASSESSMENT_FIELDS = ([c.name for c in GRADE_COLUMNS] + ["mmt_total"] + [c.name for c in LAB_COLUMNS]
                     + [c.name for c in SCORE_COLUMNS])


def assessment_rows(patients):
    qs = (Assessment.objects.current().filter(patient__in=patients)
          .order_by("patient__subject_id", "assessment_date", "pk")
          .values("patient__subject_id", "cycle__number", "timepoint", "assessment_date", "mmt_scale",
                  *ASSESSMENT_FIELDS))
    for row in qs.iterator(chunk_size=CHUNK):
        row["subject_id"] = row.pop("patient__subject_id")
        row["cycle"] = row.pop("cycle__number")
        yield {name: row[name] for name in [c.name for c in ASSESSMENT_COLUMNS]}


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
    Column("prescribed_dose_g", "Prescribed dose, 1 g/kg of dosing weight (derived)", "decimal", "g"),
    Column("max_rate_ml_per_h", "Maximum rate", "decimal", "mL/h"),
    Column("max_rate_ml_per_kg_min", "Maximum rate per kg of body weight (derived)", "decimal", "mL/kg/min"),
]


def infusion_rows(patients):
    qs = (Infusion.objects.filter(cycle__patient__in=patients)
          .order_by("cycle__patient__subject_id", "cycle__number", "day")
          .values_list("cycle__patient__subject_id", "cycle__number", "day", "infusion_date", "start_time",
                       "end_time", "product", "lot", "concentration_pct", "volume_ml", "dose_g",
                       "max_rate_ml_per_h", "cycle__weight_kg", "cycle__height_cm", "cycle__dosing_basis",
                       "cycle__patient__sex"))
    for (subject, number, day, when, start, end, product, lot, pct, volume, dose, rate, weight, height,
         basis, sex) in qs.iterator(chunk_size=CHUNK):
        prescribed = None
        if weight and (basis == DosingBasis.ACTUAL or height):
            prescribed = visit_rules.prescribed_daily_dose_g(
                visit_rules.dosing_weight_kg(basis, weight_kg=weight, height_cm=height, sex=sex))
        yield {"subject_id": subject, "cycle": number, "day": day, "infusion_date": when,
               "start_time": start, "end_time": end, "product": product, "lot": lot,
               "concentration_pct": pct, "volume_ml": volume, "dose_g": dose,
               "prescribed_dose_g": prescribed, "max_rate_ml_per_h": rate,
               "max_rate_ml_per_kg_min": visit_rules.rate_ml_per_kg_min(rate, weight) if rate and weight else None}


# --- adverse events ----------------------------------------------------------

AE_COLUMNS = [
    Column("subject_id", "Study subject id"),
    Column("ae_id", "Adverse event number within the study", "integer"),
    Column("term", "Event term (verbatim)"),
    Column("cycle", "Cycle of the linked infusion", "integer"),
    Column("day", "Day of the linked infusion", "integer"),
    Column("onset_date", "Onset date", "date"),
    Column("end_date", "End date (empty while ongoing)", "date"),
    Column("grade", "CTCAE v5 grade", "integer", codes=codes(CTCAE_GRADES.items())),
    Column("serious", "Serious (ICH E2A)", "boolean", codes=YES_NO),
    *[Column(name, f"Seriousness: {label}", "boolean", codes=YES_NO) for name, label in SERIOUSNESS_CRITERIA],
    Column("relatedness", "Relatedness to IVIG (WHO-UMC)", codes=codes(Relatedness.choices)),
    Column("action_taken", "Action taken with IVIG", codes=codes(ActionTaken.choices)),
    Column("outcome", "Outcome", codes=codes(Outcome.choices)),
    Column("entered_at", "Entered (UTC)", "datetime"),
    Column("reviewed_at", "Expedited review done (UTC)", "datetime"),
]
AE_CRITERIA = [name for name, _ in SERIOUSNESS_CRITERIA]


def adverse_event_rows(patients):
    qs = (AdverseEvent.objects.current().filter(patient__in=patients)
          .order_by("patient__subject_id", "onset_date", "pk")
          .values("pk", "patient__subject_id", "term", "infusion__cycle__number", "infusion__day", "onset_date",
                  "end_date", "grade", "serious", *AE_CRITERIA, "relatedness", "action_taken", "outcome",
                  "created_at", "reviewed_at"))
    for row in qs.iterator(chunk_size=CHUNK):
        yield {"subject_id": row["patient__subject_id"], "ae_id": row["pk"], "term": row["term"],
               "cycle": row["infusion__cycle__number"], "day": row["infusion__day"],
               "onset_date": row["onset_date"], "end_date": row["end_date"], "grade": row["grade"],
               "serious": row["serious"], **{name: row[name] for name in AE_CRITERIA},
               "relatedness": row["relatedness"], "action_taken": row["action_taken"],
               "outcome": row["outcome"], "entered_at": row["created_at"], "reviewed_at": row["reviewed_at"]}


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


def deviation_rows(patients):
    qs = (ProtocolDeviation.objects.filter(patient__in=patients)
          .order_by("patient__subject_id", "cycle__number", "day", "pk")
          .values_list("patient__subject_id", "cycle__number", "day", "kind", "description", "detected_at",
                       "resolved_at", "resolution"))
    for subject, number, day, kind, description, detected, resolved, resolution in qs.iterator(chunk_size=CHUNK):
        yield {"subject_id": subject, "cycle": number, "day": day, "kind": kind, "description": description,
               "detected_at": detected, "resolved_at": resolved, "resolution": resolution}


TABLES = [
    Table("patients", "Patients", PATIENT_COLUMNS, patient_rows, lambda p: p.count()),
    Table("diagnoses", "Diagnoses (PM/DM)", DIAGNOSIS_COLUMNS, diagnosis_rows,
          lambda p: Diagnosis.objects.filter(patient__in=p).count()),
    Table("malignancies", "Malignancy history (voided entries excluded)", MALIGNANCY_COLUMNS, malignancy_rows,
          lambda p: MalignancyHistory.objects.current().filter(patient__in=p).count()),
    Table("cycles", "Treatment cycles", CYCLE_COLUMNS, cycle_rows,
          lambda p: TreatmentCycle.objects.filter(patient__in=p).count()),
    Table("assessments", "Assessments (before each cycle; end of treatment)", ASSESSMENT_COLUMNS,
          assessment_rows, lambda p: Assessment.objects.current().filter(patient__in=p).count()),
    Table("infusions", "IVIG infusions", INFUSION_COLUMNS, infusion_rows,
          lambda p: Infusion.objects.filter(cycle__patient__in=p).count()),
    Table("adverse_events", "Adverse events (voided entries excluded)", AE_COLUMNS, adverse_event_rows,
          lambda p: AdverseEvent.objects.current().filter(patient__in=p).count()),
    Table("deviations", "Protocol deviations", DEVIATION_COLUMNS, deviation_rows,
          lambda p: ProtocolDeviation.objects.filter(patient__in=p).count()),
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
