"""HL7 FHIR R4B: the cohort as one Bundle (type ``collection``, JSON, UTF-8).

The Bundle is streamed: the opening object, then one entry at a time
(``json.dumps`` of a plain dict, gathered into chunks of about 64 KiB), then
the closing brackets. Each resource family comes from one query consumed with
``.iterator()``, so the number of queries does not grow with the cohort and
memory stays flat.

Identifiers. Every entry has the fullUrl ``urn:uuid:<uuid5>``, the UUID
derived from the study OID, the resource type and the record's natural key
(subject id; subject, cycle and day; ...), so two exports of the same data
give the same ids; ``Resource.id`` is the same UUID. References between
entries use those fullUrls. Malignancies and adverse events have no natural
key: their database id is used (stable across edits, as in the CSV export).

Choices (documented here because FHIR has no slot for them):

- De-identified as ``datasets.DEIDENTIFICATION_NOTE`` says: the Patient has the
  subject id and gender only; no name, no birth date, not even the year. The
  age in whole years at enrolment is a local extension (valueAge, UCUM ``a``).
  Race is not exported (the core has no race element; US Core's extension does
  not fit a European study).
- Infusion start and end times are local clock times with no zone. FHIR needs
  an offset on a dateTime with a time, so they are read in the site's time
  zone (``Site.time_zone``; daylight saving time included) and written with
  that offset in ``effectivePeriod``. Without any time recorded,
  ``effectiveDateTime`` is the infusion date.
- MedicationAdministration has no lot element in R4B: product, lot,
  concentration and volume go in a note. ``dosage.rateQuantity`` is the
  recorded maximum rate.
- The MMT-8 total has no LOINC code: a local code system
  (``LOCAL_CODES``) with one code per scale (Kendall 0-80, MRC 0-40); the eight
  grades are components.
- An adverse event linked to an infusion names that MedicationAdministration
  as the suspect; one that is not names a single IVIG Medication entry, which
  is written only when such an event exists. The WHO-UMC relatedness is the
  causality assessment; the CTCAE grade is a local extension next to the
  mild/moderate/severe severity.
- Dates go where R4B says: a Condition's onset in ``onsetDateTime`` (the PM/DM
  diagnosis: the first symptom; a malignancy: its diagnosis date), the date it was
  diagnosed in the core extension ``condition-assertedDate``, and ``recordedDate``
  is when the record was entered in this system. An AdverseEvent's ``date`` is its
  onset, ``detected`` the site's awareness, ``recordedDate`` its entry.
- Concomitant medications are MedicationStatements: the reported name as text with the
  WHO ATC coding (``http://www.whocc.no/atc``) when a code is known, the route in SNOMED
  CT, the frequency as ``timing.repeat``, the indication as ``reasonCode`` text.
- ResearchStudy.status is study-wide (not the cohort's): ``completed`` once
  every enrolled patient has completed or withdrawn, else ``active``.
- Voided records (malignancies, assessments, adverse events) are left out.
"""

import hashlib
import json
import uuid
from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from django.db.models import Count, Q
from django.utils import timezone

from core import missing
from patients.models import Diagnosis, MalignancyHistory, Patient, PatientStatus
from safety.models import Relatedness
from visits import rules as visit_rules
from visits.models import AssessmentTimepoint, Infusion, MMTScale

from .. import datasets

# --- Code systems ---------------------------------------------------------------

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
SNOMED = "http://snomed.info/sct"
ATC = "http://www.whocc.no/atc"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
OBSERVATION_INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
AE_SERIOUSNESS = "http://terminology.hl7.org/CodeSystem/adverse-event-seriousness"
AE_SEVERITY = "http://terminology.hl7.org/CodeSystem/adverse-event-severity"
AE_OUTCOME = "http://terminology.hl7.org/CodeSystem/adverse-event-outcome"
AE_CAUSALITY = "http://terminology.hl7.org/CodeSystem/adverse-event-causality-assess"
STUDY_PURPOSE = "http://terminology.hl7.org/CodeSystem/research-study-prim-purp-type"
SECURITY_LABELS = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue"

#: The study's own namespace: identifiers, local codes and extensions.
LOCAL_BASE = "https://ivig-edc.example.org"
SUBJECT_ID_SYSTEM = f"{LOCAL_BASE}/subject-id"
STUDY_ID_SYSTEM = f"{LOCAL_BASE}/study-id"
LOCAL_CODES = f"{LOCAL_BASE}/fhir/CodeSystem/ivig-trial"
AGE_AT_ENROLMENT_EXTENSION = f"{LOCAL_BASE}/fhir/StructureDefinition/age-at-enrolment"
CTCAE_GRADE_EXTENSION = f"{LOCAL_BASE}/fhir/StructureDefinition/ctcae-grade"
#: FHIR core extension: the date the condition was first asserted (diagnosed).
CONDITION_ASSERTED_DATE = "http://hl7.org/fhir/StructureDefinition/condition-assertedDate"

#: Namespace of the uuid5 entry ids: the study OID under the local base URL.
ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, f"{LOCAL_BASE}/{datasets.STUDY_OID}")

# --- Study ------------------------------------------------------------------

STUDY_TITLE = "IVIG as first-line therapy in adult polymyositis and dermatomyositis"
ARM_NAME = "IVIG"
ARM_DESCRIPTION = "1 g/kg on each of 2 consecutive days every 4 weeks"
DIAGNOSIS_CODES = {  # SNOMED CT
    "PM": ("31384009", "Polymyositis"),
    "DM": ("396230008", "Dermatomyositis"),
}

#: Patient status -> R4B research-subject-status.
SUBJECT_STATUS = {
    PatientStatus.SCREENING: "screening",
    PatientStatus.ON_STUDY: "on-study",
    PatientStatus.COMPLETED: "off-study",
    PatientStatus.WITHDRAWN: "withdrawn",
}
CLOSED_STATUSES = (PatientStatus.COMPLETED, PatientStatus.WITHDRAWN)
GENDER = {"F": "female", "M": "male"}

#: Malignancy status / certainty -> condition-clinical / condition-ver-status.
MALIGNANCY_CLINICAL_STATUS = {"remission": "remission", "active": "active", "relapse": "relapse"}
MALIGNANCY_VERIFICATION = {"confirmed": "confirmed", "probable": "provisional"}

# --- Observations -------------------------------------------------------------

#: (value field, lower limit field or None, upper limit field, LOINC key, label, LOINC display)
LABS = [
    ("ck_u_per_l", "ck_lln_u_per_l", "ck_uln_u_per_l", "ck", "CK",
     "Creatine kinase [Enzymatic activity/volume] in Serum or Plasma"),
    ("aldolase_u_per_l", None, "aldolase_uln_u_per_l", "aldolase", "Aldolase",
     "Aldolase [Enzymatic activity/volume] in Serum or Plasma"),
    ("ldh_u_per_l", None, "ldh_uln_u_per_l", "ldh", "LDH",
     "Lactate dehydrogenase [Enzymatic activity/volume] in Serum or Plasma"),
    ("ast_u_per_l", None, "ast_uln_u_per_l", "ast", "AST",
     "Aspartate aminotransferase [Enzymatic activity/volume] in Serum or Plasma"),
    ("alt_u_per_l", None, "alt_uln_u_per_l", "alt", "ALT",
     "Alanine aminotransferase [Enzymatic activity/volume] in Serum or Plasma"),
]
ENZYME_UNIT = "U/L"
BODY_WEIGHT = "Body weight"
#: MMT-8 total, local code and text per scale.
MMT_TOTAL_CODES = {
    MMTScale.KENDALL: ("mmt8-total-kendall", "MMT-8 total (Kendall 0-80)"),
    MMTScale.MRC: ("mmt8-total-mrc", "MMT-8 total (MRC 0-40)"),
}

# --- Treatment ------------------------------------------------------------------

IVIG_TEXT = "Immune globulin (human), intravenous"
IVIG_ATC = ("J06BA02", "immunoglobulins, normal human, for intravascular adm.")
INTRAVENOUS_ROUTE = ("47625008", "Intravenous route")  # SNOMED CT

# --- Adverse events -------------------------------------------------------------

#: CTCAE grade -> adverse-event-severity (grades 3, 4 and 5 are severe).
SEVERE_FROM_GRADE = 3
OUTCOME = {  # safety.models.Outcome -> adverse-event-outcome
    "recovered": ("resolved", "Resolved"),
    "recovering": ("recovering", "Recovering"),
    "not_recovered": ("ongoing", "Ongoing"),
    "sequelae": ("resolvedWithSequelae", "Resolved with Sequelae"),
    "fatal": ("fatal", "Fatal"),
    "unknown": ("unknown", "Unknown"),
}
CAUSALITY = {  # WHO-UMC (safety.models.Relatedness) -> adverse-event-causality-assess
    "certain": ("certain", "Certain"),
    "probable": ("probably-likely", "Probably/Likely"),
    "possible": ("possible", "Possible"),
    "unlikely": ("unlikely", "Unlikely"),
    "conditional": ("conditional-classified", "Conditional/Classified"),
    "unassessable": ("unassessable-unclassifiable", "Unassessable/Unclassifiable"),
}

CHUNK_BYTES = 64 * 1024
#: One encoder for every entry (``json.dumps`` with options makes one per call).
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


# --- Building blocks --------------------------------------------------------------

_ID_NAMESPACE_BYTES = ID_NAMESPACE.bytes


def _uuid5(name):
    """``str(uuid.uuid5(ID_NAMESPACE, name))``, without building a ``UUID`` (a third of the
    export's time went there): SHA-1 of the namespace and the name, version 5, RFC 4122
    variant."""
    digest = bytearray(hashlib.sha1(_ID_NAMESPACE_BYTES + name.encode("utf-8")).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    text = digest.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def full_url(resource_type, *key):
    """``urn:uuid:`` + uuid5 of the study OID, the resource type and the natural key."""
    name = "/".join([resource_type, *(str(part) for part in key)])
    return f"urn:uuid:{_uuid5(name)}"


def reference(resource_type, *key):
    return {"reference": full_url(resource_type, *key)}


@lru_cache(maxsize=1024)
def _subject_url(subject_id):
    """A subject's Patient fullUrl: named by each of its resources, which come by subject."""
    return full_url("Patient", subject_id)


def entry(resource_type, key, body):
    """A Bundle entry: fullUrl and the resource, whose id is the fullUrl's UUID."""
    url = full_url(resource_type, *key)
    return {"fullUrl": url,
            "resource": {"resourceType": resource_type, "id": url.removeprefix("urn:uuid:"), **body}}


def coding(system, code, display=None):
    return {"system": system, "code": code, **({"display": display} if display else {})}


def concept(system, code, display=None, text=None):
    return {"coding": [coding(system, code, display)], **({"text": text} if text else {})}


def quantity(value, unit, code=None):
    """A UCUM quantity; decimals become JSON numbers."""
    return {"value": _number(value), "unit": unit, "system": UCUM, "code": code or unit}


def _number(value):
    return value if isinstance(value, int) else float(value)


def _date(value):
    return value.isoformat() if value is not None else None


def _instant(value):
    return value.isoformat(timespec="seconds")


def _local_datetime(day, clock, zone):
    """A local clock time on ``day`` in the site's ``zone``, with its UTC offset."""
    return _instant(datetime.combine(day, clock, tzinfo=ZoneInfo(zone)))


def _visit_key(row):
    """An assessment's natural key within the patient: its cycle, or the end of treatment."""
    if row["timepoint"] == AssessmentTimepoint.END_OF_TREATMENT:
        return "end"
    return f"cycle-{row['cycle']}"


@lru_cache(maxsize=1024)
def _diagnosis_url(subject_id):
    """The fullUrl of a subject's PM/DM Condition, the reason of each of its infusions."""
    return full_url("Condition", subject_id, "diagnosis")


def _subject(subject_id):
    return {"reference": _subject_url(subject_id)}


# --- Study ----------------------------------------------------------------------

def _study_status():
    """``completed`` once every enrolled patient (study-wide) is completed or withdrawn."""
    counts = Patient.objects.aggregate(total=Count("pk"),
                                       open=Count("pk", filter=~Q(status__in=CLOSED_STATUSES)))
    return "completed" if counts["total"] and not counts["open"] else "active"


def study_entries():
    yield entry("ResearchStudy", [datasets.STUDY_OID], {
        "identifier": [{"system": STUDY_ID_SYSTEM, "value": datasets.STUDY_OID}],
        "title": STUDY_TITLE,
        "status": _study_status(),
        "primaryPurposeType": concept(STUDY_PURPOSE, "treatment", "Treatment"),
        "condition": [concept(SNOMED, code, display, display) for code, display in DIAGNOSIS_CODES.values()],
        "arm": [{"name": ARM_NAME, "description": ARM_DESCRIPTION}],
        "note": [{"text": datasets.DEIDENTIFICATION_NOTE}],
    })


def _study():
    return reference("ResearchStudy", datasets.STUDY_OID)


# --- Patients -------------------------------------------------------------------

def patient_entries(patients):
    """Patient and ResearchSubject per patient (one query: ``datasets.patient_rows``)."""
    for row in datasets.patient_rows(patients):
        yield _patient(row)
        yield _research_subject(row)


def _patient(row):
    body = {"identifier": [{"system": SUBJECT_ID_SYSTEM, "value": row["subject_id"]}],
            "gender": GENDER.get(row["sex"], "unknown")}
    if row["age"] is not None:
        body["extension"] = [{"url": AGE_AT_ENROLMENT_EXTENSION,
                              "valueAge": quantity(row["age"], "years", "a")}]
    return entry("Patient", [row["subject_id"]], body)


def _research_subject(row):
    period = {"start": _date(row["enrolment_date"])}
    if row["status"] == PatientStatus.WITHDRAWN and row["withdrawal_date"]:
        period["end"] = _date(row["withdrawal_date"])
    body = {"identifier": [{"system": SUBJECT_ID_SYSTEM, "value": row["subject_id"]}],
            "status": SUBJECT_STATUS[row["status"]], "period": period,
            "study": _study(), "individual": _subject(row["subject_id"]), "assignedArm": ARM_NAME}
    if row["first_infusion_date"]:
        body["actualArm"] = ARM_NAME
    return entry("ResearchSubject", [row["subject_id"]], body)


# --- Conditions -----------------------------------------------------------------

def _asserted(diagnosed):
    return [{"url": CONDITION_ASSERTED_DATE, "valueDateTime": _date(diagnosed)}]


def diagnosis_entries(patients):
    """The PM/DM diagnosis: ``onsetDateTime`` = the first symptom; the diagnosis date is
    when it was asserted (the core ``condition-assertedDate`` extension);
    ``recordedDate`` = when the record was entered in this system."""
    qs = (Diagnosis.objects.filter(patient__in=patients).order_by("patient__subject_id")
          .values_list("patient__subject_id", "kind", "diagnosis_date", "patient__symptom_onset_date",
                       "created_at"))
    for subject, kind, diagnosed, onset, entered in qs.iterator(chunk_size=datasets.CHUNK):
        code, display = DIAGNOSIS_CODES[kind]
        yield entry("Condition", [subject, "diagnosis"], {
            "extension": _asserted(diagnosed),
            "clinicalStatus": concept(CONDITION_CLINICAL, "active", "Active"),
            "verificationStatus": concept(CONDITION_VERIFICATION, "confirmed", "Confirmed"),
            "category": [concept(CONDITION_CATEGORY, "encounter-diagnosis", "Encounter Diagnosis")],
            "code": concept(SNOMED, code, display, display),
            "subject": _subject(subject),
            "onsetDateTime": _date(onset),
            "recordedDate": _instant(entered),
        })


def malignancy_entries(patients):
    """One Condition per current malignancy: ``onsetDateTime`` = its diagnosis date (the
    onset known), also its asserted date; ``recordedDate`` = when it was entered here."""
    qs = (MalignancyHistory.objects.current().filter(patient__in=patients)
          .order_by("patient__subject_id", "diagnosis_date", "pk")
          .values_list("pk", "patient__subject_id", "malignancy_type", "diagnosis_date", "status",
                       "certainty", "created_at"))
    for pk, subject, kind, diagnosed, status, certainty, entered in qs.iterator(chunk_size=datasets.CHUNK):
        clinical = MALIGNANCY_CLINICAL_STATUS[status]
        verification = MALIGNANCY_VERIFICATION[certainty]
        yield entry("Condition", [subject, "malignancy", pk], {
            "extension": _asserted(diagnosed),
            "clinicalStatus": concept(CONDITION_CLINICAL, clinical, clinical.capitalize()),
            "verificationStatus": concept(CONDITION_VERIFICATION, verification, verification.capitalize()),
            "category": [concept(CONDITION_CATEGORY, "problem-list-item", "Problem List Item")],
            "code": {"text": kind},
            "subject": _subject(subject),
            "onsetDateTime": _date(diagnosed),
            "recordedDate": _instant(entered),
        })


# --- Observations -----------------------------------------------------------------

def assessment_entries(patients):
    """Per current assessment: one Observation per laboratory value, and the MMT-8 total."""
    for row in datasets.assessment_rows(patients):
        for lab in LABS:
            if row[lab[0]] is not None or row.get(f"{lab[0]}{missing.COLUMN_SUFFIX}"):
                yield _lab_observation(row, *lab)
        if row["mmt_total"] is not None:
            yield _mmt_observation(row)


def _lab_observation(row, value_field, lln_field, uln_field, loinc_key, label, display):
    value = row[value_field]
    low = row[lln_field] if lln_field else None
    high = row[uln_field]
    body = {
        "status": "final",
        "category": [concept(OBSERVATION_CATEGORY, "laboratory", "Laboratory")],
        "code": concept(LOINC, visit_rules.LOINC[loinc_key], display, label),
        "subject": _subject(row["subject_id"]),
        "effectiveDateTime": _date(row["assessment_date"]),
    }
    if value is None:  # recorded as missing (core.missing): no value, the reason instead
        code = row[f"{value_field}{missing.COLUMN_SUFFIX}"]
        body["dataAbsentReason"] = concept(missing.FHIR_DATA_ABSENT_SYSTEM, *missing.FHIR_DATA_ABSENT[code])
    else:
        body["valueQuantity"] = quantity(value, ENZYME_UNIT)
    reference_range = {}
    if low is not None:
        reference_range["low"] = quantity(low, ENZYME_UNIT)
    if high is not None:
        reference_range["high"] = quantity(high, ENZYME_UNIT)
    if reference_range:
        body["referenceRange"] = [reference_range]
    flag = _interpretation(value, low, high) if value is not None else None
    if flag:
        body["interpretation"] = [concept(OBSERVATION_INTERPRETATION, *flag)]
    return entry("Observation", [row["subject_id"], _visit_key(row), loinc_key], body)


def _interpretation(value, low, high):
    if high is not None and value > high:
        return "H", "High"
    if low is not None and value < low:
        return "L", "Low"
    if high is not None:
        return "N", "Normal"
    return None


def _mmt_observation(row):
    code, text = MMT_TOTAL_CODES[row["mmt_scale"]]
    components = [{"code": concept(LOCAL_CODES, name.removeprefix("mmt_").replace("_", "-"), str(label), str(label)),
                   "valueInteger": row[name]}
                  for name, label in visit_rules.MMT8_GROUPS if row[name] is not None]
    return entry("Observation", [row["subject_id"], _visit_key(row), "mmt8-total"], {
        "status": "final",
        "category": [concept(OBSERVATION_CATEGORY, "exam", "Exam")],
        "code": concept(LOCAL_CODES, code, text, text),
        "subject": _subject(row["subject_id"]),
        "effectiveDateTime": _date(row["assessment_date"]),
        "valueInteger": row["mmt_total"],
        "component": components,
    })


def weight_entries(patients):
    """Body weight measured at each cycle's visit (day 1)."""
    for row in datasets.cycle_rows(patients):
        if row["weight_kg"] is None:
            continue
        yield entry("Observation", [row["subject_id"], f"cycle-{row['cycle']}", "body_weight"], {
            "status": "final",
            "category": [concept(OBSERVATION_CATEGORY, "vital-signs", "Vital Signs")],
            "code": concept(LOINC, visit_rules.LOINC["body_weight"], BODY_WEIGHT, BODY_WEIGHT),
            "subject": _subject(row["subject_id"]),
            "effectiveDateTime": _date(row["start_date"]),
            "valueQuantity": quantity(row["weight_kg"], "kg"),
        })


# --- Infusions ------------------------------------------------------------------

def ivig_concept():
    return concept(ATC, *IVIG_ATC, text=IVIG_TEXT)


def infusion_entries(patients):
    """One MedicationAdministration per infusion day."""
    qs = (Infusion.objects.filter(cycle__patient__in=patients)
          .order_by("cycle__patient__subject_id", "cycle__number", "day")
          .values_list("cycle__patient__subject_id", "cycle__number", "day", "infusion_date", "start_time",
                       "end_time", "product", "lot", "concentration_pct", "volume_ml", "dose_g",
                       "max_rate_ml_per_h", "cycle__patient__site__time_zone",
                       "cycle__patient__diagnosis__kind"))
    for row in qs.iterator(chunk_size=datasets.CHUNK):
        yield _medication_administration(*row)


def _medication_administration(subject, cycle, day, when, start, end, product, lot, pct, volume, dose, rate,
                               zone, diagnosis):
    body = {"status": "completed", "medicationCodeableConcept": ivig_concept(), "subject": _subject(subject)}
    if start or end:
        body["effectivePeriod"] = {
            **({"start": _local_datetime(when, start, zone)} if start else {}),
            **({"end": _local_datetime(when, end, zone)} if end else {}),
        }
    else:
        body["effectiveDateTime"] = _date(when)
    if diagnosis:
        body["reasonReference"] = [{"reference": _diagnosis_url(subject)}]
    body["note"] = [{"text": _infusion_note(cycle, day, product, lot, pct, volume)}]
    dosage = {"route": concept(SNOMED, *INTRAVENOUS_ROUTE), "dose": quantity(dose, "g")}
    if rate is not None:
        dosage["rateQuantity"] = quantity(rate, "mL/h")
    body["dosage"] = dosage
    return entry("MedicationAdministration", [subject, f"cycle-{cycle}", f"day-{day}"], body)


def _infusion_note(cycle, day, product, lot, pct, volume):
    parts = [f"Cycle {cycle}, day {day}", f"product: {product}", f"lot: {lot}"]
    if pct is not None:
        parts.append(f"concentration: {datasets.as_text(pct)} %")
    if volume is not None:
        parts.append(f"volume: {datasets.as_text(volume)} mL")
    parts.append("dosage.rateQuantity is the maximum rate")
    return "; ".join(parts) + "."


# --- Adverse events -------------------------------------------------------------

def adverse_event_entries(patients):
    """One AdverseEvent per current event (``datasets.adverse_event_rows``).

    The IVIG Medication entry, suspect of events not linked to an infusion,
    is written before the first such event only.
    """
    medication_written = False
    for row in datasets.adverse_event_rows(patients):
        linked = row["cycle"] is not None
        if not linked and not medication_written:
            yield entry("Medication", ["IVIG"], {"code": ivig_concept()})
            medication_written = True
        yield _adverse_event(row, linked)


#: MedDRA in FHIR (terminology.hl7.org): the coded event's LLT and, where known, its PT.
MEDDRA = "http://terminology.hl7.org/CodeSystem/mdr"


def ae_event_concept(row) -> dict:
    """``AdverseEvent.event``: the term as reported (``text``) and, for a coded event,
    the MedDRA LLT (the CTCAE v5.0 term) and its PT when the PT differs."""
    concept_ = {"text": row["term"]}
    if row["meddra_llt_code"]:
        codings = [coding(MEDDRA, row["meddra_llt_code"], row["meddra_llt"])]
        if row["meddra_pt_code"] and row["meddra_pt_code"] != row["meddra_llt_code"]:
            codings.append(coding(MEDDRA, row["meddra_pt_code"], row["meddra_pt"]))
        concept_["coding"] = codings
    return concept_


def _adverse_event(row, linked):
    subject = row["subject_id"]
    serious = "serious" if row["serious"] else "non-serious"
    severity = "mild" if row["grade"] == 1 else "moderate" if row["grade"] == 2 else "severe"
    if linked:
        suspect = reference("MedicationAdministration", subject, f"cycle-{row['cycle']}", f"day-{row['day']}")
    else:
        suspect = reference("Medication", "IVIG")
    causality_code, causality_display = CAUSALITY[row["relatedness"]]
    outcome_code, outcome_display = OUTCOME[row["outcome"]]
    body = {
        "extension": [{"url": CTCAE_GRADE_EXTENSION, "valueInteger": row["grade"]}],
        "actuality": "actual",
        "event": ae_event_concept(row),
        "subject": _subject(subject),
        "date": _date(row["onset_date"]),  # when the event occurred (its onset)
        "seriousness": concept(AE_SERIOUSNESS, serious, serious.capitalize()),
        "severity": concept(AE_SEVERITY, severity, severity.capitalize()),
        "outcome": concept(AE_OUTCOME, outcome_code, outcome_display),
        "suspectEntity": [{"instance": suspect, "causality": [{
            "assessment": {"coding": [coding(AE_CAUSALITY, causality_code, causality_display)],
                           "text": str(Relatedness(row["relatedness"]).label)},
        }]}],
        "study": [_study()],
    }
    if row["aware_at"]:  # when the site became aware of it
        body["detected"] = _instant(row["aware_at"])
    if row["entered_at"]:  # when it was recorded here
        body["recordedDate"] = _instant(row["entered_at"])
    return entry("AdverseEvent", [subject, row["ae_id"]], body)


# --- Concomitant medications -----------------------------------------------------

#: SNOMED CT route of each stored CDISC route (``medications.rules.Route``).
MEDICATION_ROUTES = {
    "ORAL": ("26643006", "Oral route"), "INTRAVENOUS": INTRAVENOUS_ROUTE,
    "SUBCUTANEOUS": ("34206005", "Subcutaneous route"), "INTRAMUSCULAR": ("78421000", "Intramuscular route"),
    "TOPICAL": ("6064005", "Topical route"), "TRANSDERMAL": ("45890007", "Transdermal route"),
    "RESPIRATORY (INHALATION)": ("447694001", "Respiratory tract route"),
}
#: Timing.repeat of each stored CDISC frequency: (frequency, period, periodUnit).
MEDICATION_TIMING = {"QD": (1, 1, "d"), "BID": (2, 1, "d"), "TID": (3, 1, "d"), "QID": (4, 1, "d"),
                     "QOD": (1, 2, "d"), "QW": (1, 1, "wk"), "QM": (1, 1, "mo")}
#: UCUM code of each stored dose unit (a tablet has none: unit text only).
MEDICATION_UCUM = {"mg": "mg", "g": "g", "ug": "ug", "mg/kg": "mg/kg", "IU": "[iU]", "mL": "mL"}


def medication_statement_entries(patients):
    """One MedicationStatement per current concomitant medication (``datasets.medication_rows``):
    the reported name with its WHO ATC coding when known, the period, the dosage and the
    indication as text; ``active`` while ongoing, else ``completed``."""
    for row in datasets.medication_rows(patients):
        yield _medication_statement(row)


def _medication_statement(row):
    subject = row["subject_id"]
    medication = {"text": row["drug_name"]}
    if row["atc_code"]:
        medication["coding"] = [coding(ATC, row["atc_code"], row["atc_name"] or None)]
    period = {"start": _date(row["start_date"])}
    if row["end_date"]:
        period["end"] = _date(row["end_date"])
    body = {"status": "active" if row["ongoing"] else "completed", "medicationCodeableConcept": medication,
            "subject": _subject(subject), "effectivePeriod": period}
    if row["indication"]:
        body["reasonCode"] = [{"text": row["indication"]}]
    dosage = {}
    if row["route"] in MEDICATION_ROUTES:
        dosage["route"] = concept(SNOMED, *MEDICATION_ROUTES[row["route"]])
    frequency = row["frequency"]
    if frequency in MEDICATION_TIMING:
        count, period_length, unit = MEDICATION_TIMING[frequency]
        dosage["timing"] = {"repeat": {"frequency": count, "period": period_length, "periodUnit": unit},
                            "code": {"text": frequency}}
    elif frequency == "ONCE":
        dosage["timing"] = {"repeat": {"count": 1}, "code": {"text": frequency}}
    elif frequency == "PRN":
        dosage["asNeededBoolean"] = True
    if row["dose"] is not None and row["dose_unit"]:
        code = MEDICATION_UCUM.get(row["dose_unit"])
        dose = quantity(row["dose"], row["dose_unit"], code) if code else {
            "value": _number(row["dose"]), "unit": row["dose_unit"].lower()}
        dosage["doseAndRate"] = [{"doseQuantity": dose}]
    if dosage:
        body["dosage"] = [dosage]
    return entry("MedicationStatement", [subject, row["medication_id"]], body)


# --- The Bundle -----------------------------------------------------------------

FAMILIES = [patient_entries, diagnosis_entries, malignancy_entries, assessment_entries, weight_entries,
            infusion_entries, adverse_event_entries, medication_statement_entries]


def entries(patients):
    """Every entry of the Bundle, family after family."""
    yield from study_entries()
    for family in FAMILIES:
        yield from family(patients)


def _bundle_opening():
    header = {
        "resourceType": "Bundle",
        "meta": {"security": [coding(SECURITY_LABELS, "PSEUDED", "pseudonymized")]},
        "type": "collection",
        "timestamp": _instant(timezone.now()),
    }
    return json.dumps(header, ensure_ascii=False, separators=(",", ":"))[:-1] + ',"entry":['


def fhir_bundle(patients):
    """The cohort as a FHIR R4B Bundle (collection), JSON in UTF-8, as byte chunks."""
    buffer = [_bundle_opening()]
    size = 0
    for index, item in enumerate(entries(patients)):
        text = _JSON.encode(item)
        buffer.append(text if index == 0 else "," + text)
        size += len(text)
        if size >= CHUNK_BYTES:
            yield "".join(buffer).encode("utf-8")
            buffer.clear()
            size = 0
    buffer.append("]}")
    yield "".join(buffer).encode("utf-8")
