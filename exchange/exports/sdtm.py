"""CDISC SDTM: the cohort as SDTM domains, each as CSV and SAS transport (XPT v5), in a zip.

Domains: DM, MH, CE (on-study malignancies), EX, VS, LB, AE, CM and the
sponsor-defined FT (MMT-8 muscle testing). Each domain is written twice with the same columns and values:
``<domain>.csv`` (UTF-8, header row) and ``<domain>.xpt`` (SAS transport
version 5, dataset name = domain, through :mod:`exchange.exports.xpt`), plus
``README.txt`` (what each domain holds, the de-identification note and the
sponsor-defined choices). In the CSV, text goes through
``base.spreadsheet_safe`` (a text a spreadsheet would run as a formula starts
with an apostrophe); the XPT keeps it as it is.

Rows come from ``exchange.datasets`` where its row generators fit (EX, VS,
LB, FT, AE, malignancies in MH and CE); DM and the diagnosis records of MH come from
queries over the cohort ordered by subject. The study days (--DY) need each
subject's reference start date (first infusion): every row generator is
ordered by subject id, so a second cursor over the cohort's (subject, first
infusion), in the same order, is walked alongside (a merge join) instead of
holding a dictionary of every subject.

Queries: a constant number whatever the cohort size: DM one (the subjects, with
their last contact and death as subqueries); MH two (subjects, malignancies); CE,
EX, VS, LB, FT, AE and CM two each (their rows and the reference dates): 17.

Memory: independent of the cohort's size. The rows come in chunks
(``iterator(chunk_size)``); each record goes to the zip as a CSV row at once
and, normalised (numbers as floats, text of at most 200 bytes), to a temporary
spool file (marshal, a chunk of rows at a time), while the widest value of each
character variable is noted; the XPT, whose fixed widths must be known before
the first observation, is then written from the spool with those widths (the
widths of the data, as before) and streamed into the zip. Nothing is held
beyond a chunk of rows, the spool lives on disk (about the size of the
domain's CSV) and is deleted once its XPT is written.
"""

import csv
import io
import marshal
import struct
import tempfile
from dataclasses import dataclass
from decimal import Decimal
from itertools import islice, repeat

from django.db.models import Exists, F, OuterRef, Q, Subquery

from core import missing
from patients.models import MalignancyTiming
from safety.models import ActionTaken, AdverseEvent, AdverseEventFollowUp, Outcome, Relatedness
from safety.rules import FATAL
from visits import rules as visit_rules
from visits.models import Assessment, AssessmentTimepoint, TreatmentCycle

from .. import datasets
from . import xpt
from .base import spreadsheet_safe_column, stream_zip

# --- Study constants and sponsor-defined choices -------------------------------

STUDYID = datasets.STUDY_OID
ARMCD = "IVIG"
ARM = "IVIG 1 g/kg x 2 days every 4 weeks"
#: SDTMIG 3.3/3.4 DM: an enrolled subject is assigned to the single arm (ARMCD/ARM); one not
#: yet treated has no actual arm (ACTARMCD/ACTARM null) and says why in ARMNRS (codelist ARMNULRS).
ARMNRS_NOT_TREATED = "ASSIGNED, NOT TREATED"
AGEU = "YEARS"
YES, NO = "Y", "N"

END_OF_TREATMENT_VISITNUM = 99
END_OF_TREATMENT_VISIT = "END OF TREATMENT"

#: XPT v5 limits.
NAME_MAX = xpt.NAME_MAX
LABEL_MAX = xpt.LABEL_MAX
CHAR_MAX_BYTES = xpt.CHAR_MAX

# --- Controlled terms ----------------------------------------------------------

DIAGNOSIS_TERMS = {"PM": "POLYMYOSITIS", "DM": "DERMATOMYOSITIS"}
MHCAT_DIAGNOSIS = "PRIMARY DIAGNOSIS"
MHCAT_MALIGNANCY = "MALIGNANCY"
#: Malignancies diagnosed on or after the first infusion (the stored ``MalignancyHistory.timing``
#: "during" or "after") are on-study clinical events (CE), not medical history.
CECAT_MALIGNANCY = "MALIGNANCY"

EXROUTE = "INTRAVENOUS"
EXDOSU = "g"
EXDOSFRM = "SOLUTION"

#: Infusion day of the cycle (EXTPTNUM) -> EXTPT.
INFUSION_TIMEPOINTS = {1: "DAY 1", 2: "DAY 2"}


@dataclass(frozen=True)
class LabTest:
    testcd: str
    test: str
    loinc: str
    value: str  # assessment field
    low: str | None  # lower limit of normal field (the laboratory's)
    high: str  # upper limit of normal field (the laboratory's)


LAB_UNIT = "U/L"
LBCAT = "CHEMISTRY"
LBSPEC = "SERUM"
LAB_TESTS = (
    LabTest("CK", "Creatine Kinase", visit_rules.LOINC["ck"], "ck_u_per_l", "ck_lln_u_per_l", "ck_uln_u_per_l"),
    LabTest("ALDOLASE", "Aldolase", visit_rules.LOINC["aldolase"], "aldolase_u_per_l", None,
            "aldolase_uln_u_per_l"),
    LabTest("LDH", "Lactate Dehydrogenase", visit_rules.LOINC["ldh"], "ldh_u_per_l", None, "ldh_uln_u_per_l"),
    LabTest("AST", "Aspartate Aminotransferase", visit_rules.LOINC["ast"], "ast_u_per_l", None,
            "ast_uln_u_per_l"),
    LabTest("ALT", "Alanine Aminotransferase", visit_rules.LOINC["alt"], "alt_u_per_l", None, "alt_uln_u_per_l"),
)
NRIND_HIGH, NRIND_LOW, NRIND_NORMAL = "HIGH", "LOW", "NORMAL"

#: (VSTESTCD, VSTEST, cycle field, unit).
VITAL_SIGNS = (
    ("WEIGHT", "Weight", "weight_kg", "kg"),
    ("HEIGHT", "Height", "height_cm", "cm"),
)

FTCAT = "MMT-8"
#: MMT-8 muscle group field -> FTTESTCD (sponsor-defined, <= 8 characters).
MMT_TESTCD = {
    "mmt_neck_flexors": "MMTNECK",
    "mmt_deltoid": "MMTDELT",
    "mmt_biceps": "MMTBICEP",
    "mmt_wrist_extensors": "MMTWRIST",
    "mmt_gluteus_maximus": "MMTGMAX",
    "mmt_gluteus_medius": "MMTGMED",
    "mmt_quadriceps": "MMTQUAD",
    "mmt_ankle_dorsiflexors": "MMTANKLE",
}
MMT_TESTS = tuple((field, MMT_TESTCD[field], f"MMT-8 {datasets.source_text(label)}")
                  for field, label in visit_rules.MMT8_GROUPS)
MMT_TOTAL = ("mmt_total", "MMTTOT", "MMT-8 Total Score")
MMT_METHOD = {visit_rules.MMTScale.KENDALL.value: "KENDALL 0-10", visit_rules.MMTScale.MRC.value: "MRC 0-5"}

#: CTCAE grade -> AESEV (grade 3 and above: SEVERE).
AESEV_BY_GRADE = {1: "MILD", 2: "MODERATE"}
AESEV_SEVERE = "SEVERE"
#: WHO-UMC causality category, uppercased (sponsor-defined AEREL values).
AEREL = {
    Relatedness.CERTAIN: "CERTAIN",
    Relatedness.PROBABLE: "PROBABLE/LIKELY",
    Relatedness.POSSIBLE: "POSSIBLE",
    Relatedness.UNLIKELY: "UNLIKELY",
    Relatedness.CONDITIONAL: "CONDITIONAL/UNCLASSIFIED",
    Relatedness.UNASSESSABLE: "UNASSESSABLE/UNCLASSIFIABLE",
}
AEACN = {
    ActionTaken.NONE: "DOSE NOT CHANGED",
    ActionTaken.RATE_REDUCED: "DOSE RATE REDUCED",
    ActionTaken.INTERRUPTED: "DRUG INTERRUPTED",
    ActionTaken.WITHDRAWN: "DRUG WITHDRAWN",
}
AEOUT = {
    Outcome.RECOVERED: "RECOVERED/RESOLVED",
    Outcome.RECOVERING: "RECOVERING/RESOLVING",
    Outcome.NOT_RECOVERED: "NOT RECOVERED/NOT RESOLVED",
    Outcome.SEQUELAE: "RECOVERED/RESOLVED WITH SEQUELAE",
    Outcome.FATAL: "FATAL",
    Outcome.UNKNOWN: "UNKNOWN",
}
#: SDTM seriousness flag -> adverse-event field.
AE_SERIOUSNESS_FLAGS = {
    "AESCONG": "serious_congenital_anomaly",
    "AESDISAB": "serious_disability",
    "AESDTH": "serious_death",
    "AESHOSP": "serious_hospitalisation",
    "AESLIFE": "serious_life_threatening",
    "AESMIE": "serious_medically_important",
}


# --- Variables and domains -----------------------------------------------------

@dataclass(frozen=True)
class Var:
    name: str
    label: str
    numeric: bool = False


def _identifiers(domain, seq=True):
    ids = [Var("STUDYID", "Study Identifier"), Var("DOMAIN", "Domain Abbreviation"),
           Var("USUBJID", "Unique Subject Identifier")]
    return ids + ([Var(f"{domain}SEQ", "Sequence Number", True)] if seq else [])


VISIT_VARS = [Var("VISITNUM", "Visit Number", True), Var("VISIT", "Visit Name")]

DM_VARS = _identifiers("DM", seq=False) + [
    Var("SUBJID", "Subject Identifier for the Study"),
    Var("RFSTDTC", "Subject Reference Start Date/Time"),
    Var("RFENDTC", "Subject Reference End Date/Time"),
    Var("RFXSTDTC", "Date/Time of First Study Treatment"),
    Var("RFXENDTC", "Date/Time of Last Study Treatment"),
    Var("RFICDTC", "Date/Time of Informed Consent"),
    Var("RFPENDTC", "Date/Time of End of Participation"),
    Var("DTHDTC", "Date/Time of Death"),
    Var("DTHFL", "Subject Death Flag"),
    Var("SITEID", "Study Site Identifier"),
    Var("AGE", "Age", True),
    Var("AGEU", "Age Units"),
    Var("SEX", "Sex"),
    Var("RACE", "Race"),
    Var("ARMCD", "Planned Arm Code"),
    Var("ARM", "Description of Planned Arm"),
    Var("ACTARMCD", "Actual Arm Code"),
    Var("ACTARM", "Description of Actual Arm"),
    Var("ARMNRS", "Reason Arm and/or Actual Arm is Null"),
    Var("ACTARMUD", "Description of Unplanned Actual Arm"),
    Var("COUNTRY", "Country"),
]
MH_VARS = _identifiers("MH") + [
    Var("MHTERM", "Reported Term for the Medical History"),
    Var("MHCAT", "Category for Medical History"),
    Var("MHSTDTC", "Start Date/Time of Medical History Event"),
]
CE_VARS = _identifiers("CE") + [
    Var("CETERM", "Reported Term for the Clinical Event"),
    Var("CECAT", "Category for Clinical Event"),
    Var("CESTDTC", "Start Date/Time of Clinical Event"),
    Var("CESTDY", "Study Day of Start of Event", True),
]
EX_VARS = _identifiers("EX") + [
    Var("EXTRT", "Name of Treatment"),
    Var("EXDOSE", "Dose", True),
    Var("EXDOSU", "Dose Units"),
    Var("EXDOSFRM", "Dose Form"),
    Var("EXROUTE", "Route of Administration"),
    Var("EXLOT", "Lot Number"),
    *VISIT_VARS,
    Var("EXSTDTC", "Start Date/Time of Treatment"),
    Var("EXENDTC", "End Date/Time of Treatment"),
    Var("EXSTDY", "Study Day of Start of Treatment", True),
    Var("EXENDY", "Study Day of End of Treatment", True),
    # The SDTM timing variables' order: the planned time point after the dates and days.
    Var("EXTPT", "Planned Time Point Name"),
    Var("EXTPTNUM", "Planned Time Point Number", True),
]
VS_VARS = _identifiers("VS") + [
    Var("VSTESTCD", "Vital Signs Test Short Name"),
    Var("VSTEST", "Vital Signs Test Name"),
    Var("VSORRES", "Result or Finding in Original Units"),
    Var("VSORRESU", "Original Units"),
    Var("VSSTRESC", "Character Result/Finding in Std Format"),
    Var("VSSTRESN", "Numeric Result/Finding in Standard Units", True),
    Var("VSSTRESU", "Standard Units"),
    Var("VSSTAT", "Completion Status"),
    Var("VSREASND", "Reason Not Performed"),
    Var("VSBLFL", "Baseline Flag"),
    *VISIT_VARS,
    Var("VSDTC", "Date/Time of Measurements"),
    Var("VSDY", "Study Day of Vital Signs", True),
]
LB_VARS = _identifiers("LB") + [
    Var("LBTESTCD", "Lab Test or Examination Short Name"),
    Var("LBTEST", "Lab Test or Examination Name"),
    Var("LBCAT", "Category for Lab Test"),
    Var("LBORRES", "Result or Finding in Original Units"),
    Var("LBORRESU", "Original Units"),
    Var("LBORNRLO", "Reference Range Lower Limit in Orig Unit"),
    Var("LBORNRHI", "Reference Range Upper Limit in Orig Unit"),
    Var("LBSTRESC", "Character Result/Finding in Std Format"),
    Var("LBSTRESN", "Numeric Result/Finding in Standard Units", True),
    Var("LBSTRESU", "Standard Units"),
    Var("LBSTNRLO", "Reference Range Lower Limit-Std Units", True),
    Var("LBSTNRHI", "Reference Range Upper Limit-Std Units", True),
    Var("LBNRIND", "Reference Range Indicator"),
    Var("LBSTAT", "Completion Status"),
    Var("LBREASND", "Reason Test Not Done"),
    Var("LBLOINC", "LOINC Code"),
    Var("LBSPEC", "Specimen Type"),
    Var("LBBLFL", "Baseline Flag"),
    *VISIT_VARS,
    Var("LBDTC", "Date/Time of Specimen Collection"),
    Var("LBDY", "Study Day of Specimen Collection", True),
]
FT_VARS = _identifiers("FT") + [
    Var("FTTESTCD", "Short Name of Test"),
    Var("FTTEST", "Name of Test"),
    Var("FTCAT", "Category for Test"),
    Var("FTORRES", "Result or Finding in Original Units"),
    Var("FTSTRESC", "Character Result/Finding in Std Format"),
    Var("FTSTRESN", "Numeric Result/Finding in Standard Units", True),
    Var("FTSTAT", "Completion Status"),
    Var("FTREASND", "Reason Not Performed"),
    Var("FTMETHOD", "Method of Test or Examination"),
    Var("FTBLFL", "Baseline Flag"),
    *VISIT_VARS,
    Var("FTDTC", "Date/Time of Test"),
    Var("FTDY", "Study Day of Test", True),
]
AE_VARS = _identifiers("AE") + [
    Var("AESPID", "Sponsor-Defined Identifier"),
    Var("AETERM", "Reported Term for the Adverse Event"),
    Var("AELLT", "Lowest Level Term"),
    Var("AELLTCD", "Lowest Level Term Code", True),
    Var("AEDECOD", "Dictionary-Derived Term"),
    Var("AEPTCD", "Preferred Term Code", True),
    Var("AEHLT", "High Level Term"),  # Expected: present; empty (the CTCAE file carries no HLT)
    Var("AEHLTCD", "High Level Term Code", True),
    Var("AEHLGT", "High Level Group Term"),
    Var("AEHLGTCD", "High Level Group Term Code", True),
    Var("AEBODSYS", "Body System or Organ Class"),
    Var("AEBDSYCD", "Body System or Organ Class Code", True),
    Var("AESOC", "Primary System Organ Class"),
    Var("AESOCCD", "Primary System Organ Class Code", True),
    Var("AESEV", "Severity/Intensity"),
    Var("AESER", "Serious Event"),
    Var("AEACN", "Action Taken with Study Treatment"),
    Var("AEREL", "Causality"),
    Var("AEOUT", "Outcome of Adverse Event"),
    Var("AESCONG", "Congenital Anomaly or Birth Defect"),
    Var("AESDISAB", "Persist or Signif Disability/Incapacity"),
    Var("AESDTH", "Results in Death"),
    Var("AESHOSP", "Requires or Prolongs Hospitalization"),
    Var("AESLIFE", "Is Life Threatening"),
    Var("AESMIE", "Other Medically Important Serious Event"),
    Var("AETOXGR", "Standard Toxicity Grade"),
    Var("AESTDTC", "Start Date/Time of Adverse Event"),
    Var("AEENDTC", "End Date/Time of Adverse Event"),
    Var("AESTDY", "Study Day of Start of Adverse Event", True),
    Var("AEENDY", "Study Day of End of Adverse Event", True),
]

CM_VARS = _identifiers("CM") + [
    Var("CMSPID", "Sponsor-Defined Identifier"),
    Var("CMTRT", "Reported Name of Drug, Med, or Therapy"),
    Var("CMDECOD", "Standardized Medication Name"),
    Var("CMINDC", "Indication"),
    Var("CMCLAS", "Medication Class"),
    Var("CMCLASCD", "Medication Class Code"),
    Var("CMDOSE", "Dose per Administration", True),
    Var("CMDOSU", "Dose Units"),
    Var("CMDOSFRQ", "Dosing Frequency per Interval"),
    Var("CMROUTE", "Route of Administration"),
    Var("CMSTDTC", "Start Date/Time of Medication"),
    Var("CMENDTC", "End Date/Time of Medication"),
    Var("CMSTDY", "Study Day of Start of Medication", True),
    Var("CMENDY", "Study Day of End of Medication", True),
    Var("CMENRTPT", "End Relative to Reference Time Point"),
    Var("CMENTPT", "End Reference Time Point"),
]
#: CMENRTPT of a medication still taken at the data cut, against CMENTPT.
CM_ONGOING = "ONGOING"
CM_END_TIMEPOINT = "END OF STUDY"
#: ``CMDOSU``: the CDISC UNIT submission value of each stored dose unit.
CM_DOSE_UNITS = {"ug": "ug", "mg": "mg", "g": "g", "mg/kg": "mg/kg", "IU": "IU", "mL": "mL", "TABLET": "TABLET"}


@dataclass(frozen=True)
class Domain:
    code: str
    label: str  # dataset label (<= 40 characters)
    description: str  # for the README
    variables: list
    records: object  # callable(patients) -> iterator of dicts keyed by variable name, by subject

    def __post_init__(self):
        """The XPT v5 limits hold by construction."""
        too_long = [v.name for v in self.variables
                    if len(v.name) > NAME_MAX or not v.label or len(v.label) > LABEL_MAX]
        if too_long or len(self.code) > NAME_MAX or len(self.label) > LABEL_MAX:
            raise ValueError(f"{self.code}: name or label beyond the XPT v5 limits: {too_long}")

    @property
    def names(self):
        return [v.name for v in self.variables]

    @property
    def filename(self):
        return self.code.lower()


# --- Helpers -------------------------------------------------------------------

def not_done(row, field):
    """``(--STAT, --REASND)`` of a value recorded as missing (``core.missing``), else None:
    SDTM writes a test not done as a record with an empty result, --STAT = NOT DONE and
    the reason."""
    code = row.get(f"{field}{missing.COLUMN_SUFFIX}")
    if not code or row.get(field) is not None:
        return None
    return missing.SDTM_STAT_NOT_DONE, missing.SDTM_REASND.get(code, code)


def usubjid(subject_id):
    return f"{STUDYID}-{subject_id}"


def visit(cycle, timepoint=AssessmentTimepoint.PRE_CYCLE):
    """(VISITNUM, VISIT): cycle n -> n, "CYCLE n"; end of treatment -> 99."""
    if timepoint == AssessmentTimepoint.END_OF_TREATMENT or cycle is None:
        return END_OF_TREATMENT_VISITNUM, END_OF_TREATMENT_VISIT
    return cycle, f"CYCLE {cycle}"


def study_day(when, reference):
    """SDTM study day: the reference start date is day 1, the day before is -1."""
    if when is None or reference is None:
        return None
    days = (when - reference).days
    return days + 1 if days >= 0 else days


def iso(value, time=None):
    """ISO 8601 date, with the local time (hh:mm) when one is given."""
    if value is None:
        return None
    return f"{value.isoformat()}T{time:%H:%M}" if time is not None else value.isoformat()


def number_text(value):
    """A number as result text: 1234.0 -> "1234", 12.50 -> "12.5"."""
    if value is None:
        return None
    return format(Decimal(value).normalize(), "f")


def yes_no(flag):
    return YES if flag else NO


def _cohort_stream(patients, *fields):
    """The cohort's subjects ordered by subject id: tuples of ``fields``, in chunks."""
    qs = patients.order_by("subject_id").values_list(*fields)
    return qs.iterator(chunk_size=datasets.CHUNK)


def with_reference(patients, rows):
    """``(row, reference start date)`` for rows ordered by subject id, like the cohort.

    The cohort's (subject, first infusion) is read alongside, in the same order
    (a merge join), so nothing is held per subject. The subject query runs
    before the first row is asked for, whether there are rows or not (the same
    number of queries for every cohort). Only equality is compared, never
    order: the database's collation decides the order of both streams."""
    subjects = _cohort_stream(patients, "subject_id", "first_infusion_date")
    current = next(subjects, None)
    for row in rows:
        subject = row["subject_id"]
        while current is not None and current[0] != subject:
            current = next(subjects, None)
        if current is None:
            raise RuntimeError(f"SDTM: subject {subject} is not in the cohort or out of order")
        yield row, current[1]


def with_baseline(rows):
    """Mark each subject's first row (rows come ordered by subject, then date):
    ``row["baseline"]`` is "Y" there, None elsewhere. ``rows``: dicts, or
    ``(dict, reference date)`` pairs from :func:`with_reference`."""
    previous = None
    for item in rows:
        row = item[0] if isinstance(item, tuple) else item
        row["baseline"] = YES if row["subject_id"] != previous else None
        previous = row["subject_id"]
        yield item


# --- Subjects (DM, MH diagnosis) -------------------------------------------------

def _latest(model_qs, field):
    """The latest ``field`` of the subject's rows of ``model_qs`` (a correlated subquery)."""
    return Subquery(model_qs.filter(patient=OuterRef("pk"), **{f"{field}__isnull": False})
                    .order_by(F(field).desc()).values(field)[:1])


def _deaths():
    """Current adverse events that record a death: outcome fatal or the criterion "results in
    death" (``safety.rules`` holds the two together with CTCAE grade 5)."""
    return AdverseEvent.objects.current().filter(Q(outcome=FATAL) | Q(serious_death=True),
                                                 patient=OuterRef("pk"))


def _contacts(patients):
    """``patients`` with the latest date of each kind of recorded contact (correlated
    subqueries: still one query) and the death: ``death`` (a death is recorded),
    ``death_date`` (the earliest end date of a fatal event: the date it ended in death)."""
    events = AdverseEvent.objects.current()
    return patients.annotate(
        last_cycle=_latest(TreatmentCycle.objects.all(), "start_date"),
        last_assessment=_latest(Assessment.objects.current(), "assessment_date"),
        last_ae_onset=_latest(events, "onset_date"),
        last_ae_end=_latest(events, "end_date"),
        last_follow_up=Subquery(
            AdverseEventFollowUp.objects.filter(adverse_event__patient=OuterRef("pk"),
                                                adverse_event__voided_at__isnull=True)
            .order_by("-follow_up_date").values("follow_up_date")[:1]),
        death=Exists(_deaths()),
        death_date=Subquery(_deaths().filter(end_date__isnull=False).order_by("end_date")
                            .values("end_date")[:1]),
    )


#: The dates that are a contact with the subject, for RFPENDTC (see :func:`participation_end`).
CONTACT_DATES = ("consent_date", "enrolment_date", "first_infusion", "last_infusion", "end_of_treatment",
                 "withdrawal_date", "last_cycle", "last_assessment", "last_ae_onset", "last_ae_end",
                 "last_follow_up", "death_date")


def participation_end(subject):
    """RFPENDTC, "date/time when subject ended participation or follow-up in a trial ... should
    correspond to the last known date of contact" (SDTMIG 3.3 DM): the latest recorded date of
    contact: consent, enrolment, a cycle visit, an infusion, an assessment (the end-of-treatment
    visit included), an adverse event's onset, end or follow-up, the withdrawal, the death. For
    a subject still on study, the last contact so far (the data cut)."""
    return max((d for d in map(subject.get, CONTACT_DATES) if d is not None), default=None)


def subject_rows(patients):
    """One row per subject, by subject id: identifiers, demography, treatment
    dates, diagnosis, the last contact and the death. The age and the treatment
    dates are the stored facts (``patients.services`` derives them); the country
    is the site's (``accounts.Site.country``)."""
    names = ("subject_id", "site", "country", "sex", "race", "age", "consent_date", "enrolment_date",
             "symptom_onset_date", "diagnosis", "first_infusion", "last_infusion", "end_of_treatment",
             "withdrawal_date", "last_cycle", "last_assessment", "last_ae_onset", "last_ae_end",
             "last_follow_up", "death", "death_date")
    qs = (_contacts(patients).order_by("subject_id")
          .values_list("subject_id", "site__code", "site__country", "sex", "race", "age_at_enrolment",
                       "consent_date", "enrolment_date", "symptom_onset_date", "diagnosis__kind",
                       "first_infusion_date", "last_infusion_date", "end_of_treatment_date", "withdrawal_date",
                       "last_cycle", "last_assessment", "last_ae_onset", "last_ae_end", "last_follow_up",
                       "death", "death_date"))
    for values in qs.iterator(chunk_size=datasets.CHUNK):
        yield dict(zip(names, values))


def dm_records(patients):
    """One record per subject. Single arm (SDTMIG 3.3/3.4): every enrolled subject is
    assigned to it (ARMCD/ARM); the actual arm once treated, else ACTARMCD/ACTARM null
    with ARMNRS "ASSIGNED, NOT TREATED". DTHFL "Y" and DTHDTC when a death is recorded."""
    for s in subject_rows(patients):
        treated = s["first_infusion"] is not None
        yield {
            "USUBJID": usubjid(s["subject_id"]), "SUBJID": s["subject_id"],
            "RFSTDTC": iso(s["first_infusion"]), "RFENDTC": iso(s["last_infusion"]),
            "RFXSTDTC": iso(s["first_infusion"]), "RFXENDTC": iso(s["last_infusion"]),
            "RFICDTC": iso(s["consent_date"]), "RFPENDTC": iso(participation_end(s)),
            "DTHDTC": iso(s["death_date"]), "DTHFL": YES if s["death"] else None,
            "SITEID": s["site"], "AGE": s["age"], "AGEU": AGEU,
            "SEX": s["sex"], "RACE": s["race"], "ARMCD": ARMCD, "ARM": ARM,
            "ACTARMCD": ARMCD if treated else None, "ACTARM": ARM if treated else None,
            "ARMNRS": None if treated else ARMNRS_NOT_TREATED, "ACTARMUD": None,
            "COUNTRY": s["country"],
        }


# --- MH and CE -----------------------------------------------------------------------

def _before_study(row):
    """A malignancy diagnosed before the first infusion: the stored timing (``patients.rules
    .malignancy_timing``, never recomputed here)."""
    return row["timing"] == MalignancyTiming.BEFORE


def mh_records(patients):
    """Per subject: the PM/DM diagnosis (onset of symptoms) when recorded, then the
    current (not voided) malignancies diagnosed before the first infusion, by diagnosis
    date. Both queries are ordered by subject id and read side by side."""
    malignancies = datasets.malignancy_rows(patients)
    pending = next(malignancies, None)
    for subject, kind, onset in _cohort_stream(patients, "subject_id", "diagnosis__kind", "symptom_onset_date"):
        if kind:
            yield {"USUBJID": usubjid(subject), "MHTERM": DIAGNOSIS_TERMS[kind], "MHCAT": MHCAT_DIAGNOSIS,
                   "MHSTDTC": iso(onset)}
        while pending is not None and pending["subject_id"] == subject:
            if _before_study(pending):
                yield {"USUBJID": usubjid(subject), "MHTERM": pending["malignancy"], "MHCAT": MHCAT_MALIGNANCY,
                       "MHSTDTC": iso(pending["diagnosis_date"])}
            pending = next(malignancies, None)
    if pending is not None:
        raise RuntimeError(f"SDTM: malignancy of subject {pending['subject_id']} out of the cohort's order")


def ce_records(patients):
    """The current malignancies diagnosed on or after the first infusion (stored timing
    "during" or "after"): on-study clinical events, with their study day."""
    for row, first in with_reference(patients, datasets.malignancy_rows(patients)):
        if _before_study(row):
            continue
        yield {"USUBJID": usubjid(row["subject_id"]), "CETERM": row["malignancy"], "CECAT": CECAT_MALIGNANCY,
               "CESTDTC": iso(row["diagnosis_date"]), "CESTDY": study_day(row["diagnosis_date"], first)}


# --- EX ------------------------------------------------------------------------------

def ex_records(patients):
    """One record per infusion day: the dose given, lot, cycle and infusion day."""
    for row, first in with_reference(patients, datasets.infusion_rows(patients)):
        visitnum, visit_name = visit(row["cycle"])
        yield {
            "USUBJID": usubjid(row["subject_id"]), "EXTRT": row["product"], "EXDOSE": row["dose_g"],
            "EXDOSU": EXDOSU, "EXDOSFRM": EXDOSFRM, "EXROUTE": EXROUTE, "EXLOT": row["lot"],
            "VISITNUM": visitnum, "VISIT": visit_name,
            "EXTPT": INFUSION_TIMEPOINTS.get(row["day"]), "EXTPTNUM": row["day"],
            "EXSTDTC": iso(row["infusion_date"], row["start_time"]),
            "EXENDTC": iso(row["infusion_date"], row["end_time"]),
            "EXSTDY": study_day(row["infusion_date"], first), "EXENDY": study_day(row["infusion_date"], first),
        }


# --- VS ------------------------------------------------------------------------------

def vs_records(patients):
    """Weight (and height when recorded) at each cycle visit; baseline = the first cycle."""
    for row, first in with_baseline(with_reference(patients, datasets.cycle_rows(patients))):
        visitnum, visit_name = visit(row["cycle"])
        for testcd, test, field, unit in VITAL_SIGNS:
            value = row[field]
            status = not_done(row, field)
            if status:
                yield {"USUBJID": usubjid(row["subject_id"]), "VSTESTCD": testcd, "VSTEST": test,
                       "VSSTAT": status[0], "VSREASND": status[1], "VISITNUM": visitnum, "VISIT": visit_name,
                       "VSDTC": iso(row["start_date"]), "VSDY": study_day(row["start_date"], first)}
                continue
            if value is None:
                continue
            yield {
                "USUBJID": usubjid(row["subject_id"]), "VSTESTCD": testcd, "VSTEST": test,
                "VSORRES": number_text(value), "VSORRESU": unit, "VSSTRESC": number_text(value),
                "VSSTRESN": value, "VSSTRESU": unit, "VSBLFL": row["baseline"], "VISITNUM": visitnum,
                "VISIT": visit_name,
                "VSDTC": iso(row["start_date"]),
                "VSDY": study_day(row["start_date"], first),
            }


# --- LB and FT (from the assessments) ------------------------------------------------

def _assessments(patients):
    """Current assessments, ordered by subject and date, with visit, date, study
    day and baseline (the subject's first assessment)."""
    for row, first in with_baseline(with_reference(patients, datasets.assessment_rows(patients))):
        visitnum, visit_name = visit(row["cycle"], row["timepoint"])
        row.update(usubjid=usubjid(row["subject_id"]), visitnum=visitnum, visit=visit_name,
                   dtc=iso(row["assessment_date"]), dy=study_day(row["assessment_date"], first))
        yield row


def range_indicator(value, low, high):
    """LBNRIND against the laboratory's range; None without a range."""
    if high is not None and value > high:
        return NRIND_HIGH
    if low is not None and value < low:
        return NRIND_LOW
    if high is not None or low is not None:
        return NRIND_NORMAL
    return None


def lb_records(patients):
    """CK, aldolase, LDH, AST and ALT with the laboratory's range; baseline = the
    subject's first assessment (no baseline for a test not done then)."""
    for a in _assessments(patients):
        for test in LAB_TESTS:
            value = a[test.value]
            status = not_done(a, test.value)
            if status:
                yield {"USUBJID": a["usubjid"], "LBTESTCD": test.testcd, "LBTEST": test.test, "LBCAT": LBCAT,
                       "LBSTAT": status[0], "LBREASND": status[1], "LBLOINC": test.loinc, "LBSPEC": LBSPEC,
                       "VISITNUM": a["visitnum"], "VISIT": a["visit"], "LBDTC": a["dtc"], "LBDY": a["dy"]}
                continue
            if value is None:
                continue
            low = a[test.low] if test.low else None
            high = a[test.high]
            yield {
                "USUBJID": a["usubjid"], "LBTESTCD": test.testcd, "LBTEST": test.test, "LBCAT": LBCAT,
                "LBORRES": number_text(value), "LBORRESU": LAB_UNIT, "LBORNRLO": number_text(low),
                "LBORNRHI": number_text(high), "LBSTRESC": number_text(value), "LBSTRESN": value,
                "LBSTRESU": LAB_UNIT, "LBSTNRLO": low, "LBSTNRHI": high,
                "LBNRIND": range_indicator(value, low, high), "LBLOINC": test.loinc, "LBSPEC": LBSPEC,
                "LBBLFL": a["baseline"], "VISITNUM": a["visitnum"], "VISIT": a["visit"], "LBDTC": a["dtc"],
                "LBDY": a["dy"],
            }


def ft_records(patients):
    """MMT-8: one record per muscle group tested and the total (when all eight were)."""
    for a in _assessments(patients):
        for field, testcd, test in (*MMT_TESTS, MMT_TOTAL):
            value = a[field]
            status = not_done(a, field)
            if status:
                yield {"USUBJID": a["usubjid"], "FTTESTCD": testcd, "FTTEST": test, "FTCAT": FTCAT,
                       "FTSTAT": status[0], "FTREASND": status[1], "FTMETHOD": MMT_METHOD.get(a["mmt_scale"]),
                       "VISITNUM": a["visitnum"], "VISIT": a["visit"], "FTDTC": a["dtc"], "FTDY": a["dy"]}
                continue
            if value is None:
                continue
            yield {
                "USUBJID": a["usubjid"], "FTTESTCD": testcd, "FTTEST": test, "FTCAT": FTCAT,
                "FTORRES": str(value), "FTSTRESC": str(value), "FTSTRESN": value,
                "FTMETHOD": MMT_METHOD.get(a["mmt_scale"]), "FTBLFL": a["baseline"],
                "VISITNUM": a["visitnum"], "VISIT": a["visit"],
                "FTDTC": a["dtc"], "FTDY": a["dy"],
            }


# --- AE ------------------------------------------------------------------------------

def severity(grade):
    """AESEV from the CTCAE grade: 1 MILD, 2 MODERATE, 3 and above SEVERE."""
    return AESEV_BY_GRADE.get(grade, AESEV_SEVERE)


def _meddra_code(code):
    return int(code) if code else None


def ae_coding(row) -> dict:
    """The MedDRA variables from the event's stored coded facts: AELLT/AELLTCD the coded
    LLT (the CTCAE term), AEDECOD/AEPTCD its preferred term, AEBODSYS/AEBDSYCD and
    AESOC/AESOCCD the PT's primary SOC (SDTMIG: the body system is the primary SOC when
    the sponsor uses it for analysis). A CTCAE term whose PT the shipped list does not
    give (no MedDRA release loaded) stands for its own PT: AEDECOD = AELLT. Not coded:
    all empty."""
    pt_name = row["meddra_pt"] or row["meddra_llt"]
    pt_code = row["meddra_pt_code"] or row["meddra_llt_code"]
    soc_code = _meddra_code(row["meddra_soc_code"])
    return {"AELLT": row["meddra_llt"], "AELLTCD": _meddra_code(row["meddra_llt_code"]),
            "AEDECOD": pt_name, "AEPTCD": _meddra_code(pt_code),
            "AEBODSYS": row["meddra_soc"], "AEBDSYCD": soc_code, "AESOC": row["meddra_soc"], "AESOCCD": soc_code}


def ae_records(patients):
    """Current (not voided) adverse events with the CDISC terms of the dicts above."""
    for row, first in with_reference(patients, datasets.adverse_event_rows(patients)):  # voided excluded
        yield {
            "USUBJID": usubjid(row["subject_id"]), "AESPID": str(row["ae_id"]), "AETERM": row["term"],
            **ae_coding(row),
            "AESEV": severity(row["grade"]), "AESER": yes_no(row["serious"]),
            "AEACN": AEACN.get(row["action_taken"]), "AEREL": AEREL.get(row["relatedness"]),
            "AEOUT": AEOUT.get(row["outcome"]),
            **{flag: yes_no(row[field]) for flag, field in AE_SERIOUSNESS_FLAGS.items()},
            "AETOXGR": str(row["grade"]), "AESTDTC": iso(row["onset_date"]), "AEENDTC": iso(row["end_date"]),
            "AESTDY": study_day(row["onset_date"], first), "AEENDY": study_day(row["end_date"], first),
        }


# --- CM ------------------------------------------------------------------------------

def cm_records(patients):
    """Current (not voided) concomitant medications: CMDECOD / CMCLAS from the stored WHO
    ATC names (``medications.services``), empty for a drug without a known code; a
    medication still taken is CMENRTPT ONGOING against CMENTPT END OF STUDY."""
    for row, first in with_reference(patients, datasets.medication_rows(patients)):  # voided excluded
        yield {
            "USUBJID": usubjid(row["subject_id"]), "CMSPID": str(row["medication_id"]), "CMTRT": row["drug_name"],
            "CMDECOD": row["atc_name"].upper() or None, "CMCLAS": row["atc_class_name"].upper() or None,
            "CMCLASCD": row["atc_class_code"] or None, "CMINDC": row["indication"] or None,
            "CMDOSE": row["dose"], "CMDOSU": CM_DOSE_UNITS.get(row["dose_unit"]),
            "CMDOSFRQ": row["frequency"] or None, "CMROUTE": row["route"] or None,
            "CMSTDTC": iso(row["start_date"]), "CMENDTC": iso(row["end_date"]),
            "CMSTDY": study_day(row["start_date"], first), "CMENDY": study_day(row["end_date"], first),
            "CMENRTPT": CM_ONGOING if row["ongoing"] else None,
            "CMENTPT": CM_END_TIMEPOINT if row["ongoing"] else None,
        }


DOMAINS = [
    Domain("DM", "Demographics", "one record per subject: site and its country, sex, age at enrolment "
           "(years), race, reference start/end = first/last IVIG infusion, informed consent date, end of "
           "participation (last contact), death, arm.", DM_VARS, dm_records),
    Domain("MH", "Medical History", "conditions that began before the study: the PM/DM diagnosis (MHCAT "
           "PRIMARY DIAGNOSIS, MHSTDTC = symptom onset) and the malignancies diagnosed before the first "
           "infusion (MHCAT MALIGNANCY, MHSTDTC = diagnosis date; voided entries excluded).", MH_VARS, mh_records),
    Domain("CE", "Clinical Events", "on-study events: the malignancies diagnosed on or after the first "
           "infusion (CECAT MALIGNANCY, CESTDTC = diagnosis date; voided entries excluded).", CE_VARS, ce_records),
    Domain("EX", "Exposure", "one record per IVIG infusion day: product, dose given (g), lot, "
           "VISITNUM = cycle, EXTPT = infusion day.", EX_VARS, ex_records),
    Domain("VS", "Vital Signs", "weight (kg) at each cycle visit and height (cm) when recorded.",
           VS_VARS, vs_records),
    Domain("LB", "Laboratory Test Results", "CK, aldolase, LDH, AST and ALT (U/L) at each assessment "
           "with the laboratory's reference range and LOINC code (voided assessments excluded).",
           LB_VARS, lb_records),
    Domain("FT", "Functional Tests", "sponsor-defined MMT-8 manual muscle testing: one record per muscle "
           "group tested and the total per assessment (voided assessments excluded).", FT_VARS, ft_records),
    Domain("AE", "Adverse Events", "adverse events (voided entries excluded) with CTCAE grade, "
           "seriousness criteria, WHO-UMC causality, action taken and outcome.", AE_VARS, ae_records),
    Domain("CM", "Concomitant/Prior Medications", "concomitant medications (voided entries excluded): "
           "CMTRT as reported; CMDECOD the WHO ATC level-5 name and CMCLAS / CMCLASCD the ATC level-4 "
           "class when the ATC code is one of the study's drugs of interest (empty otherwise); dose, unit, "
           "frequency and route as CDISC terms; a medication still taken: CMENRTPT ONGOING, CMENTPT END OF "
           "STUDY.", CM_VARS, cm_records),
]


# --- Values, CSV and XPT ---------------------------------------------------------------

#: zlib level of the zip: the CSVs and XPTs are repetitive; level 2 deflates them several times
#: faster than the default 6 for a somewhat larger file (as the cohort CSV export).
ZIP_LEVEL = 2
#: Records per CSV chunk and per spooled chunk.
ROWS_PER_CHUNK = 500


def truncate(text, limit=CHAR_MAX_BYTES):
    """``text`` cut to ``limit`` bytes of UTF-8 (never inside a character)."""
    encoded = text.encode("utf-8")
    if len(encoded) <= limit:
        return text
    return encoded[:limit].decode("utf-8", errors="ignore")


def _text_cells(values):
    """Text column: str, "" when missing."""
    return [v if v.__class__ is str else "" if v is None else str(v) for v in values]


def _number_cells(values):
    """Number column: float, None when missing."""
    return [None if v is None else float(v) for v in values]


def _byte_lengths(values):
    return list(map(len, values)) if all(map(str.isascii, values)) else [len(v.encode("utf-8")) for v in values]


def normalise(domain, records, truncated, widths=None):
    """A chunk of records as the domain's columns (one list per variable, in
    order): numbers as float (None when missing), text as str ("" when missing)
    of at most 200 bytes of UTF-8. ``widths`` (one per variable), when given, is
    raised to the longest text of each column in bytes (its XPT width)."""
    columns = []
    for index, var in enumerate(domain.variables):
        if var.name == "STUDYID":
            column = [STUDYID] * len(records)
        elif var.name == "DOMAIN":
            column = [domain.code] * len(records)
        else:
            values = list(map(dict.get, records, repeat(var.name)))
            if var.numeric:
                columns.append(_number_cells(values))
                continue
            column = _text_cells(values)
        if not column:
            columns.append(column)
            continue
        lengths = _byte_lengths(column)
        longest = max(lengths)
        if longest > CHAR_MAX_BYTES:
            cut = [i for i, n in enumerate(lengths) if n > CHAR_MAX_BYTES]
            for i in cut:
                column[i] = truncate(column[i])
            truncated[domain.code] = truncated.get(domain.code, 0) + len(cut)
            longest = max(_byte_lengths(column))
        if widths is not None and longest > widths[index]:
            widths[index] = longest
        columns.append(column)
    return columns


def normalised_chunks(domain, patients, truncated, widths=None, size=None):
    """The domain's records in chunks of ``size``, normalised (column-wise, see
    :func:`normalise`), with --SEQ numbered 1..n per subject (each subject's
    records come together)."""
    seq_name = f"{domain.code}SEQ"
    has_seq = seq_name in domain.names
    records = domain.records(patients)
    previous, seq = None, 0
    while chunk := list(islice(records, size or ROWS_PER_CHUNK)):
        if has_seq:
            for record in chunk:
                subject = record["USUBJID"]
                seq = seq + 1 if subject == previous else 1
                previous = subject
                record[seq_name] = seq
        yield normalise(domain, chunk, truncated, widths)


def _number_text(value):
    return "" if value is None else str(int(value)) if value.is_integer() else repr(value)


#: The CSV text of numbers seen (sequence numbers, visits, study days, grades, results
#: repeat): bounded, cleared when full.
_NUMBER_TEXTS = {}
_NUMBER_TEXTS_MAX = 4096


def _number_texts(values):
    """A number column as CSV text: missing -> "", 55.0 -> "55", 70.5 -> "70.5"."""
    known = _NUMBER_TEXTS
    texts = list(map(known.get, values))
    if None in texts:
        if len(known) > _NUMBER_TEXTS_MAX:
            known.clear()
        for i, text in enumerate(texts):
            if text is None:
                value = values[i]
                texts[i] = known[value] = _number_text(value)
    return texts


def _csv_texts(values):
    """A text column as CSV cells: ``spreadsheet_safe`` (a text a spreadsheet would run as a
    formula starts with an apostrophe). The XPT keeps the values as they are: no spreadsheet
    runs a SAS transport file."""
    return spreadsheet_safe_column(values)


_LENGTH = struct.Struct("<Q")


def domain_members(domain, patients, counts, truncated):
    """``(name, chunks)`` of the domain's CSV, then of its XPT, for :func:`stream_zip`.

    The CSV streams as the records come; the same normalised chunks go to a
    temporary spool (marshal, length-prefixed) with the longest text of each
    variable noted; the XPT is written from the spool once the CSV is done
    (this generator resumes only when the zip has taken the whole CSV)."""
    numeric = [v.numeric for v in domain.variables]
    widths = [xpt.NUMERIC_WIDTH if v.numeric else 1 for v in domain.variables]
    spool = tempfile.TemporaryFile(prefix="sdtm-")
    try:
        def csv_part():
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\r\n")
            writer.writerow(domain.names)
            total = 0
            for columns in normalised_chunks(domain, patients, truncated, widths):
                writer.writerows(zip(*[_number_texts(c) if n else _csv_texts(c) for c, n in zip(columns, numeric)]))
                data = marshal.dumps(columns)
                spool.write(_LENGTH.pack(len(data)))
                spool.write(data)
                total += len(columns[0])
                yield buffer.getvalue().encode("utf-8")
                buffer.seek(0)
                buffer.truncate()
            counts[domain.code] = total
            yield buffer.getvalue().encode("utf-8")

        def spooled_chunks():
            spool.seek(0)
            while header := spool.read(_LENGTH.size):
                yield marshal.loads(spool.read(_LENGTH.unpack(header)[0]))

        yield f"{domain.filename}.csv", csv_part()
        variables = [xpt.Variable(v.name, v.label, v.numeric, width) for v, width in zip(domain.variables, widths)]
        yield f"{domain.filename}.xpt", xpt.dataset_chunks(domain.code, domain.label, variables, spooled_chunks())
    finally:
        spool.close()


# --- README ------------------------------------------------------------------------------

SPONSOR_CHOICES = f"""\
- USUBJID = STUDYID + "-" + subject id ({STUDYID}-01-001). --SEQ numbers the records 1..n per subject.
- VISITNUM/VISIT: cycle n -> n / "CYCLE n"; end of treatment -> {END_OF_TREATMENT_VISITNUM} /
  "{END_OF_TREATMENT_VISIT}".
- Dates are ISO 8601 (YYYY-MM-DD); EXSTDTC/EXENDTC add the local start/end time (hh:mm) when recorded.
  Study days (--DY) count from RFSTDTC (day 1, no day 0).
- DM: RFSTDTC/RFXSTDTC = first IVIG infusion, RFENDTC/RFXENDTC = last infusion; AGE = age in whole
  years at enrolment; COUNTRY = the site's country (ISO 3166-1 alpha-3, set per site by an
  administrator). RFPENDTC = the last known date of contact (SDTMIG: "should correspond to the last
  known date of contact"): the latest of consent, enrolment, cycle visits, infusions, assessments (the
  end-of-treatment visit included), adverse-event onsets, ends and follow-ups, the withdrawal and the
  death; for a subject still on study, the last contact so far. DTHFL "Y" when a death is recorded (a
  current adverse event with outcome FATAL or the criterion "results in death"), DTHDTC = that event's
  end date (empty when not recorded); a withdrawal's reason is free text and is not read for deaths.
  Single arm: ARMCD "{ARMCD}", ARM "{ARM}" for every enrolled subject; ACTARMCD/ACTARM the same once
  treated, else null with ARMNRS "{ARMNRS_NOT_TREATED}" (SDTMIG 3.3/3.4; no pseudo-arm codes);
  ACTARMUD is always null. No birth date (BRTHDTC) is given.
- MH holds conditions that began before the study: the diagnosis as MHTERM POLYMYOSITIS /
  DERMATOMYOSITIS with MHSTDTC = myopathy symptom onset; malignancies diagnosed before the first
  infusion (the EDC's stored timing "before"), MHTERM as recorded (not MedDRA-coded). Malignancy status
  and certainty are not carried (they would need SUPPMH).
- CE: malignancies diagnosed on or after the first infusion (stored timing "during" or "after") are
  on-study events, not history. They are clinical events (CE, CECAT "{CECAT_MALIGNANCY}") rather than AE
  records: the EDC's malignancy record carries no adverse-event assessment (seriousness, causality,
  grade, action, outcome) nor a MedDRA code (AEDECOD is required in AE), and an investigator who judges
  the malignancy an adverse event reports it on the adverse-event form, so it is in AE once, as
  assessed. CESTDY counts from RFSTDTC.
- EX: EXTRT = the product as recorded; EXDOSE in g per infusion day; EXDOSFRM "{EXDOSFRM}";
  EXTPT "DAY 1"/"DAY 2" = infusion day of the cycle.
- VS, LB, FT: the baseline flag (--BLFL = "Y") marks the subject's first visit: the first cycle (VS) and the
  first current assessment (LB, FT); a test not done then has no baseline record.
- LB: the laboratory's own reference range (LBORNRLO/LBORNRHI, LBSTNRLO/LBSTNRHI; only CK has a lower
  limit); LBNRIND from that range; LBCAT "{LBCAT}", LBSPEC "{LBSPEC}"; units U/L are the standard units.
- FT (sponsor-defined): FTCAT "{FTCAT}"; FTTESTCD {", ".join(MMT_TESTCD.values())} and {MMT_TOTAL[1]} (the total,
  only when all eight groups were tested); FTORRES/FTSTRESN = the grade on the scale in FTMETHOD
  ({" or ".join(MMT_METHOD.values())}), not converted between scales.
- AE: AETOXGR = CTCAE v5 grade ("1".."5"); AESEV from the grade (1 MILD, 2 MODERATE, 3-5 SEVERE);
  AEREL = the WHO-UMC causality category uppercased ({", ".join(AEREL.values())}), not the CDISC
  NY codelist; AESPID = the EDC's adverse-event number; AETERM as reported (verbatim); AELLT/AELLTCD the coded
  CTCAE v5.0 term (a MedDRA LLT), AEDECOD/AEPTCD its MedDRA preferred term (the LLT itself where no MedDRA
  release was loaded to give the PT), AEBODSYS/AEBDSYCD = AESOC/AESOCCD the primary system organ class;
  an event not coded yet has them empty.
- No supplemental qualifier (SUPP--) datasets, no trial design datasets and no response (RS) domain.
"""

CM_CHOICES = f"""\
- CM: CMTRT = the drug name as reported; CMDECOD = the WHO ATC level-5 name and CMCLAS / CMCLASCD the ATC
  level-4 class name / code, for the study's drugs of interest with a known ATC code (the EDC's built-in
  list, medications/rules.py), empty otherwise (the EDC codes no drug dictionary); CMDOSU, CMDOSFRQ and
  CMROUTE are CDISC submission values; CMSPID = the EDC's medication number; a medication still taken at the
  data cut: no CMENDTC, CMENRTPT "{CM_ONGOING}", CMENTPT "{CM_END_TIMEPOINT}".
"""


def readme(counts, truncated):
    lines = [
        "IVIG myositis trial: CDISC SDTM export", "",
        datasets.DEIDENTIFICATION_NOTE, "",
        "Each domain is given twice, with the same variables and values: <domain>.csv (UTF-8, header row,",
        "empty cell = missing) and <domain>.xpt (SAS transport version 5: dataset name = domain, variable",
        "names <= 8 characters, labels <= 40, character values <= 200 bytes, numbers as 8-byte floats).",
        "In the CSV only, a character value that a spreadsheet would run as a formula (starting with = + - @,",
        "a tab or a carriage return, after any spaces or line feeds) starts with an apostrophe (').", "",
        "Domains:",
    ]
    for domain in DOMAINS:
        count = counts.get(domain.code, 0)
        lines.append(f"- {domain.code} ({domain.label}, {count} records): {domain.description}")
    lines += ["", "Sponsor-defined choices:", SPONSOR_CHOICES + CM_CHOICES]
    cut = ", ".join(f"{code} {n}" for code, n in truncated.items()) or "none"
    lines.append(f"Character values longer than {CHAR_MAX_BYTES} bytes are truncated, in CSV and XPT "
                 f"alike; values truncated per domain: {cut}.")
    return "\n".join(lines) + "\n"


# --- The export -------------------------------------------------------------------------

def sdtm_zip(patients):
    """The cohort's SDTM domains as CSV and XPT v5 files in a streamed zip."""
    counts, truncated = {}, {}

    def members():
        for domain in DOMAINS:
            yield from domain_members(domain, patients, counts, truncated)
        yield "README.txt", [readme(counts, truncated).encode("utf-8")]

    return stream_zip(members(), compresslevel=ZIP_LEVEL)
