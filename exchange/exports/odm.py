"""CDISC ODM 1.3.2 (XML): the cohort as one Snapshot file, written as it streams.

Layout (``exchange/schemas/odm-1.3.2/ODM1-3-2.xsd`` validates it)::

    ODM
      Study           GlobalVariables, BasicDefinitions (units), MetaDataVersion
      AdminData       User per history author (+ USR.SYSTEM), Location per site
      ClinicalData    SubjectData per patient (SubjectKey = subject id)
        SE.ENROLMENT          F.PATIENT, F.DIAGNOSIS, F.MALIGNANCIES, F.ADVERSE_EVENTS, F.MEDICATIONS
        SE.CYCLE (repeating)  F.CYCLE, F.ASSESSMENT, F.INFUSIONS, F.DEVIATIONS
        SE.EOT                F.ASSESSMENT (the end-of-treatment visit)

Which values: every ItemGroupData is one row of a ``exchange.datasets`` table
and every ItemData one of its columns, formatted by ``datasets.as_text``; the
metadata (ItemDef, CodeList, MeasurementUnit) is built from the same
``Column`` definitions, so the ODM file, the CSV files and the data dictionary
cannot drift apart. Columns carried by a key are not items: ``subject_id`` is
the SubjectKey, the cycle number the StudyEventRepeatKey, the infusion day and
the adverse-event and medication numbers the ItemGroupRepeatKey. Malignancies and deviations
have no natural key: their ItemGroupRepeatKey is the position (1, 2, ...) in
the order the dataset lists them.

Audit trail: every ItemGroupData (one database record) carries an AuditRecord
for the record's last history row (django-simple-history): who (UserRef),
where (LocationRef, the patient's site), when (DateTimeStamp, UTC) and why
(ReasonForChange, when the change gave one); SourceID names the record and its
version. A record without any history row gets no AuditRecord.

Memory and queries: patients are read ``PATIENT_CHUNK`` at a time (keyset
pagination on the subject id). For each chunk, each dataset table is read once
and each history table once (only the newest row per record, picked by the
database), and the chunk's rows are grouped by subject in memory before its
SubjectData elements are written. AdminData needs the users before any
clinical data, so one query finds every user named in the cohort's history,
and one more reads the sites. The query count therefore depends on the number
of chunks, not on the number of patients, cycles or history rows.
"""

import re
from dataclasses import dataclass
from datetime import timezone as dt_timezone
from xml.sax.saxutils import escape, quoteattr

from django.contrib.auth import get_user_model
from django.db.models import Exists, Min, OuterRef, Q, Subquery
from django.utils import timezone

from accounts.models import Site
from medications.models import ConcomitantMedication
from patients.models import Diagnosis, MalignancyHistory, Patient
from safety.models import AdverseEvent
from visits.models import Assessment, Infusion, ProtocolDeviation, TreatmentCycle

from .. import datasets
from ..datasets import as_text

XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'
ODM_NAMESPACE = "http://www.cdisc.org/ns/odm/v1.3"
ODM_VERSION = "1.3.2"
FILE_TYPE = "Snapshot"
SOURCE_SYSTEM = "IVIG myositis trial EDC"
STUDY_NAME = "IVIG in polymyositis and dermatomyositis"
STUDY_DESCRIPTION = (
    "Open trial of intravenous immunoglobulin (IVIG) as first-line therapy in adult polymyositis "
    "and dermatomyositis: 1 g/kg on each of two consecutive days every month, with muscle power "
    "and CK assessed before each treatment period.")
METADATA_VERSION_OID = "MDV.1"
METADATA_VERSION_NAME = "Cohort export metadata (from the reporting data dictionary)"
LANGUAGE = "en"
SYSTEM_USER_OID = "USR.SYSTEM"
SYSTEM_USER_NAME = "System (no user recorded)"
LOCATION_TYPE = "Site"
PATIENT_CHUNK = 500

#: Column.type -> ODM ItemDef DataType.
DATA_TYPES = {"string": "text", "integer": "integer", "decimal": "float", "date": "date",
              "datetime": "datetime", "time": "time", "boolean": "boolean"}
#: Column.type -> CodeList DataType. ODM has no boolean code lists: a boolean
#: ItemDef is constrained by its data type, so it gets no CodeListRef.
CODE_LIST_TYPES = {"string": "text", "integer": "integer", "decimal": "float"}

#: Characters XML 1.0 forbids even when escaped; free text could carry them.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
#: Marks a group whose ItemGroupRepeatKey is the row's position, not a column.
POSITION = "position"
BOOLEAN_VALUES = {True: "Yes", False: "No"}


# --- the study design: events, forms, item groups ------------------------------------------

@dataclass(frozen=True)
class Group:
    """One dataset table as an ODM form holding one item group.

    ``keys``: the columns carried by a key instead of an ItemData;
    ``repeat_key``: the column giving the ItemGroupRepeatKey, ``POSITION`` for
    the row's position, None for a group that does not repeat.
    """

    table: str
    form_oid: str
    form_name: str
    keys: tuple = ("subject_id",)
    repeat_key: str | None = None

    @property
    def oid(self):
        return f"IG.{self.table.upper()}"

    @property
    def repeating(self):
        return self.repeat_key is not None

    @property
    def definition(self):
        return datasets.TABLES_BY_NAME[self.table]

    @property
    def columns(self):
        return [c for c in self.definition.columns if c.name not in self.keys]


@dataclass(frozen=True)
class Event:
    oid: str
    name: str
    repeating: bool
    mandatory: bool
    groups: tuple


PATIENT = Group("patients", "F.PATIENT", "Patient")
DIAGNOSIS = Group("diagnoses", "F.DIAGNOSIS", "Diagnosis")
MALIGNANCIES = Group("malignancies", "F.MALIGNANCIES", "Malignancy history", repeat_key=POSITION)
ADVERSE_EVENTS = Group("adverse_events", "F.ADVERSE_EVENTS", "Adverse events",
                       keys=("subject_id", "ae_id"), repeat_key="ae_id")
CYCLE = Group("cycles", "F.CYCLE", "Treatment cycle", keys=("subject_id", "cycle"))
ASSESSMENT = Group("assessments", "F.ASSESSMENT", "Assessment", keys=("subject_id", "cycle"))
INFUSIONS = Group("infusions", "F.INFUSIONS", "IVIG infusions", keys=("subject_id", "cycle", "day"),
                  repeat_key="day")
DEVIATIONS = Group("deviations", "F.DEVIATIONS", "Protocol deviations", keys=("subject_id", "cycle"),
                   repeat_key=POSITION)
MEDICATIONS = Group("medications", "F.MEDICATIONS", "Concomitant medications",
                    keys=("subject_id", "medication_id"), repeat_key="medication_id")
GROUPS = [PATIENT, DIAGNOSIS, MALIGNANCIES, ADVERSE_EVENTS, CYCLE, ASSESSMENT, INFUSIONS, DEVIATIONS, MEDICATIONS]

ENROLMENT = Event("SE.ENROLMENT", "Enrolment", False, True,
                  (PATIENT, DIAGNOSIS, MALIGNANCIES, ADVERSE_EVENTS, MEDICATIONS))
TREATMENT_CYCLE = Event("SE.CYCLE", "Treatment cycle", True, False, (CYCLE, ASSESSMENT, INFUSIONS, DEVIATIONS))
END_OF_TREATMENT = Event("SE.EOT", "End of treatment", False, False, (ASSESSMENT,))
EVENTS = [ENROLMENT, TREATMENT_CYCLE, END_OF_TREATMENT]
CYCLE_COLUMN = "cycle"


def item_oid(group, column):
    return f"IT.{group.table.upper()}.{column.name.upper()}"


def code_list_oid(group, column):
    return f"CL.{group.table.upper()}.{column.name.upper()}"


def unit_oid(unit):
    """``U/L`` -> ``MU.U_PER_L``, ``%`` -> ``MU.PCT``: OIDs stay readable."""
    slug = unit.upper().replace("%", "PCT").replace("/", "_PER_")
    return "MU." + re.sub(r"[^A-Z0-9]+", "_", slug).strip("_")


def user_oid(user_id):
    return f"USR.{user_id}" if user_id is not None else SYSTEM_USER_OID


def location_oid(site_code):
    return f"LOC.{site_code}"


def has_code_list(column):
    return bool(column.codes) and column.type in CODE_LIST_TYPES


def parse_codes(codes):
    """``"value=label; value=label"`` -> [(value, label)]; a bare value is its own label."""
    pairs = []
    for part in codes.split(";"):
        value, equals, label = part.strip().partition("=")
        if value.strip():
            pairs.append((value.strip(), label.strip() if equals else value.strip()))
    return pairs


# --- XML writing ---------------------------------------------------------------------------

def _clean(value):
    return _NOT_XML.sub("", str(value))


#: A value holding none of these is written as it is: what ``quoteattr`` / ``escape``
#: would change, and what ``_clean`` drops.
_ATTRIBUTE_SPECIAL = re.compile('[&<>"\n\r\t\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]')
_TEXT_SPECIAL = re.compile("[&<>\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _attribute(value):
    """``value`` (a str) as a quoted attribute value: ``quoteattr(_clean(value))``, without
    the calls for the plain values that are nearly all of them."""
    if _ATTRIBUTE_SPECIAL.search(value) is None:
        return f'"{value}"'
    return quoteattr(_clean(value))


def _escaped(text):
    """``text`` (a str) as element content: ``escape(_clean(text))``."""
    if _TEXT_SPECIAL.search(text) is None:
        return text
    return escape(_clean(text))


def _attributes(attributes):
    return "".join(f" {name}={_attribute(str(value))}" for name, value in attributes.items()
                   if value is not None)


def _open(tag, attributes=None):
    return f"<{tag}{_attributes(attributes or {})}>"


def _empty(tag, attributes=None):
    return f"<{tag}{_attributes(attributes or {})}/>"


def _text(tag, text, attributes=None):
    return f"{_open(tag, attributes)}{_escaped(str(text))}</{tag}>"


def _translated(tag, text):
    """An element holding one English TranslatedText (Question, Decode, Description...)."""
    return f"<{tag}>{_text('TranslatedText', text, {'xml:lang': LANGUAGE})}</{tag}>"


def _utc(moment):
    """ISO 8601 in UTC with a Z, as ODM datetimes prefer."""
    return moment.astimezone(dt_timezone.utc).isoformat().replace("+00:00", "Z")


def _yes_no(flag):
    return BOOLEAN_VALUES[bool(flag)]


# --- Study: metadata built from the dataset columns -----------------------------------------

def _units():
    """Every unit a column names, in first-use order."""
    seen = {}
    for group in GROUPS:
        for column in group.columns:
            if column.unit:
                seen.setdefault(unit_oid(column.unit), column.unit)
    return seen


def _study():
    parts = [_open("Study", {"OID": datasets.STUDY_OID}),
             "<GlobalVariables>", _text("StudyName", STUDY_NAME), _text("StudyDescription", STUDY_DESCRIPTION),
             _text("ProtocolName", datasets.STUDY_OID), "</GlobalVariables>",
             "<BasicDefinitions>"]
    for oid, unit in _units().items():
        parts += [_open("MeasurementUnit", {"OID": oid, "Name": unit}), _translated("Symbol", unit),
                  "</MeasurementUnit>"]
    parts.append("</BasicDefinitions>")
    parts.append(_open("MetaDataVersion", {"OID": METADATA_VERSION_OID, "Name": METADATA_VERSION_NAME,
                                           "Description": datasets.DEIDENTIFICATION_NOTE}))
    parts += _protocol() + _event_defs() + _form_defs() + _item_group_defs() + _item_defs() + _code_lists()
    parts += ["</MetaDataVersion>", "</Study>"]
    return "\n".join(parts)


def _protocol():
    parts = ["<Protocol>"]
    for order, event in enumerate(EVENTS, start=1):
        parts.append(_empty("StudyEventRef", {"StudyEventOID": event.oid, "OrderNumber": order,
                                              "Mandatory": _yes_no(event.mandatory)}))
    return parts + ["</Protocol>"]


def _event_defs():
    parts = []
    for event in EVENTS:
        parts.append(_open("StudyEventDef", {"OID": event.oid, "Name": event.name,
                                             "Repeating": _yes_no(event.repeating), "Type": "Scheduled"}))
        for order, group in enumerate(event.groups, start=1):
            parts.append(_empty("FormRef", {"FormOID": group.form_oid, "OrderNumber": order,
                                            "Mandatory": _yes_no(group is PATIENT)}))
        parts.append("</StudyEventDef>")
    return parts


def _form_defs():
    parts = []
    for group in GROUPS:
        parts += [_open("FormDef", {"OID": group.form_oid, "Name": group.form_name, "Repeating": "No"}),
                  _empty("ItemGroupRef", {"ItemGroupOID": group.oid, "OrderNumber": 1, "Mandatory": "Yes"}),
                  "</FormDef>"]
    return parts


def _item_group_defs():
    parts = []
    for group in GROUPS:
        table = group.definition
        parts += [_open("ItemGroupDef", {"OID": group.oid, "Name": table.name,
                                         "Repeating": _yes_no(group.repeating)}),
                  _translated("Description", table.description or table.label)]
        for order, column in enumerate(group.columns, start=1):
            parts.append(_empty("ItemRef", {"ItemOID": item_oid(group, column), "OrderNumber": order,
                                            "Mandatory": "No"}))
        parts.append("</ItemGroupDef>")
    return parts


def _item_defs():
    parts = []
    for group in GROUPS:
        for column in group.columns:
            parts += [_open("ItemDef", {"OID": item_oid(group, column), "Name": column.name,
                                        "DataType": DATA_TYPES[column.type]}),
                      _translated("Question", column.label)]
            if column.unit:
                parts.append(_empty("MeasurementUnitRef", {"MeasurementUnitOID": unit_oid(column.unit)}))
            if has_code_list(column):
                parts.append(_empty("CodeListRef", {"CodeListOID": code_list_oid(group, column)}))
            parts.append("</ItemDef>")
    return parts


def _code_lists():
    parts = []
    for group in GROUPS:
        for column in filter(has_code_list, group.columns):
            parts.append(_open("CodeList", {"OID": code_list_oid(group, column),
                                            "Name": f"{group.table}.{column.name}",
                                            "DataType": CODE_LIST_TYPES[column.type]}))
            for order, (value, label) in enumerate(parse_codes(column.codes), start=1):
                parts += [_open("CodeListItem", {"CodedValue": value, "OrderNumber": order}),
                          _translated("Decode", label), "</CodeListItem>"]
            parts.append("</CodeList>")
    return parts


# --- AdminData: the users named in the history, the sites ------------------------------------

def _history_of_cohort(patients):
    """Per history model, its rows that belong to the cohort (for the users query)."""
    cohort = patients.values("pk")
    cycles = TreatmentCycle.objects.filter(patient__in=cohort).values("pk")
    return [Patient.history.filter(id__in=cohort),
            *[model.history.filter(patient_id__in=cohort)
              for model in (Diagnosis, MalignancyHistory, TreatmentCycle, Assessment, AdverseEvent,
                            ProtocolDeviation)],
            Infusion.history.filter(cycle_id__in=cycles)]


def _users(patients):
    """Every user who wrote a history row of the cohort, in one query."""
    named = Q()
    for rows in _history_of_cohort(patients):
        named |= Q(Exists(rows.filter(history_user_id=OuterRef("pk"))))
    return list(get_user_model().objects.filter(named).order_by("pk").values_list("pk", "username"))


def _sites(patients):
    """The cohort's sites, with the first consent there as the date the metadata took effect."""
    return list(Site.objects.filter(pk__in=patients.values("site_id")).order_by("code")
                .annotate(first_consent=Min("patients__consent_date"))
                .values_list("code", "name", "first_consent"))


def _user(oid, username):
    """Staff are named by their login only: no personal names leave the EDC."""
    return "\n".join([_open("User", {"OID": oid}), _text("LoginName", username),
                      _text("DisplayName", username), "</User>"])


def _system_user():
    """Who a history row names when it has no user (a script, a migration)."""
    return "\n".join([_open("User", {"OID": SYSTEM_USER_OID}), _text("DisplayName", SYSTEM_USER_NAME),
                      "</User>"])


def _admin_data(patients, created):
    parts = [_open("AdminData", {"StudyOID": datasets.STUDY_OID}), _system_user()]
    parts += [_user(user_oid(pk), username) for pk, username in _users(patients)]
    for code, name, first_consent in _sites(patients):
        effective = first_consent or created.date()
        parts += [_open("Location", {"OID": location_oid(code), "Name": name, "LocationType": LOCATION_TYPE}),
                  _empty("MetaDataVersionRef", {"StudyOID": datasets.STUDY_OID,
                                                "MetaDataVersionOID": METADATA_VERSION_OID,
                                                "EffectiveDate": effective.isoformat()}),
                  "</Location>"]
    parts.append("</AdminData>")
    return "\n".join(parts)


# --- the audit trail: the last change of every record of a chunk ----------------------------

@dataclass(frozen=True)
class Change:
    """A record's last history row, as an AuditRecord needs it."""

    user_id: int | None
    at: object
    reason: str
    source: str


HISTORY_FIELDS = ("id", "version", "history_date", "history_user_id", "history_change_reason")


def _latest_history(model, records, *fields):
    """The newest history row of each record in ``records``, in one query.

    Restricting to current records leaves out deleted and voided ones, as the
    datasets do; their old keys could otherwise shadow a live record's."""
    newest = (model.history.filter(id=OuterRef("id")).order_by("-history_date", "-history_id")
              .values("history_id")[:1])
    return model.history.filter(id__in=records.values("pk"), history_id=Subquery(newest)).values(
        *HISTORY_FIELDS, *fields)


def _change(model, row):
    return Change(user_id=row["history_user_id"], at=row["history_date"],
                  reason=(row["history_change_reason"] or "").strip(),
                  source=f"{model._meta.label_lower} {row['id']} version {row['version']}")


def _by_position(rows, group_by, order_by):
    """Number rows 1, 2, ... within ``group_by``, in the dataset's ``order_by`` order."""
    numbered, counters = [], {}
    for row in sorted(rows, key=lambda r: (group_by(r), *order_by(r))):
        key = group_by(row)
        counters[key] = counters.get(key, 0) + 1
        numbered.append((row, counters[key]))
    return numbered


def _audit_trail(chunk_pks, subjects):
    """{(table, subject, cycle number, item group repeat key): Change} for a chunk.

    The keys are the ones the clinical data is written with, rebuilt from the
    newest history row, which holds the record's current values."""
    trail = _enrolment_changes(chunk_pks, subjects)
    trail.update(_treatment_changes(chunk_pks, subjects))
    return trail


def _enrolment_changes(chunk_pks, subjects):
    """Patient, diagnosis, malignancies (by position, ordered as
    ``datasets.malignancy_rows``: diagnosis date, pk) and adverse events (by pk)."""
    trail = {}
    for row in _latest_history(Patient, Patient.objects.filter(pk__in=chunk_pks)):
        trail[(PATIENT.table, subjects[row["id"]], None, None)] = _change(Patient, row)
    for row in _latest_history(Diagnosis, Diagnosis.objects.filter(patient_id__in=chunk_pks), "patient_id"):
        trail[(DIAGNOSIS.table, subjects[row["patient_id"]], None, None)] = _change(Diagnosis, row)
    malignancies = _latest_history(MalignancyHistory,
                                   MalignancyHistory.objects.current().filter(patient_id__in=chunk_pks),
                                   "patient_id", "diagnosis_date")
    for row, position in _by_position(malignancies, lambda r: r["patient_id"],
                                      lambda r: (r["diagnosis_date"], r["id"])):
        trail[(MALIGNANCIES.table, subjects[row["patient_id"]], None, position)] = _change(MalignancyHistory, row)
    for row in _latest_history(AdverseEvent, AdverseEvent.objects.current().filter(patient_id__in=chunk_pks),
                               "patient_id"):
        trail[(ADVERSE_EVENTS.table, subjects[row["patient_id"]], None, row["id"])] = _change(AdverseEvent, row)
    for row in _latest_history(ConcomitantMedication,
                               ConcomitantMedication.objects.current().filter(patient_id__in=chunk_pks), "patient_id"):
        trail[(MEDICATIONS.table, subjects[row["patient_id"]], None, row["id"])] = _change(ConcomitantMedication, row)
    return trail


def _treatment_changes(chunk_pks, subjects):
    """Cycles, assessments (cycle number, or None at the end of treatment),
    infusions (by day) and deviations (by position, ordered as
    ``datasets.deviation_rows``: day, pk)."""
    trail, cycles = {}, {}  # cycles: cycle id -> (subject, cycle number)
    for row in _latest_history(TreatmentCycle, TreatmentCycle.objects.filter(patient_id__in=chunk_pks),
                               "patient_id", "number"):
        cycles[row["id"]] = (subjects[row["patient_id"]], row["number"])
        trail[(CYCLE.table, *cycles[row["id"]], None)] = _change(TreatmentCycle, row)
    for row in _latest_history(Assessment, Assessment.objects.current().filter(patient_id__in=chunk_pks),
                               "patient_id", "cycle_id"):
        number = cycles[row["cycle_id"]][1] if row["cycle_id"] in cycles else None
        trail[(ASSESSMENT.table, subjects[row["patient_id"]], number, None)] = _change(Assessment, row)
    for row in _latest_history(Infusion, Infusion.objects.filter(cycle__patient_id__in=chunk_pks),
                               "cycle_id", "day"):
        if row["cycle_id"] in cycles:
            trail[(INFUSIONS.table, *cycles[row["cycle_id"]], row["day"])] = _change(Infusion, row)
    deviations = [row for row in _latest_history(
        ProtocolDeviation, ProtocolDeviation.objects.current().filter(patient_id__in=chunk_pks), "cycle_id", "day")
        if row["cycle_id"] in cycles]
    for row, position in _by_position(deviations, lambda r: cycles[r["cycle_id"]],
                                      lambda r: (r["day"], r["id"])):
        trail[(DEVIATIONS.table, *cycles[row["cycle_id"]], position)] = _change(ProtocolDeviation, row)
    return trail


class _AuditLines:
    """An AuditRecord, a line per element: UserRef, LocationRef, DateTimeStamp (UTC),
    ReasonForChange (when the change gave one) and SourceID; the UserRef and LocationRef lines (a few
    users and sites, hundreds of thousands of records) made once each."""

    def __init__(self):
        self._users, self._locations = {}, {}

    def extend(self, parts, change, site_code):
        user = self._users.get(change.user_id)
        if user is None:
            user = self._users[change.user_id] = _empty("UserRef", {"UserOID": user_oid(change.user_id)})
        location = self._locations.get(site_code)
        if location is None:
            location = self._locations[site_code] = _empty("LocationRef", {"LocationOID": location_oid(site_code)})
        parts += ("<AuditRecord>", user, location, f"<DateTimeStamp>{_escaped(_utc(change.at))}</DateTimeStamp>")
        if change.reason:
            parts.append(f"<ReasonForChange>{_escaped(change.reason)}</ReasonForChange>")
        parts += (f"<SourceID>{_escaped(change.source)}</SourceID>", "</AuditRecord>")


# --- ClinicalData ----------------------------------------------------------------------------

def _patient_chunks(patients):
    """Lists of (pk, subject id, site code), ``PATIENT_CHUNK`` at a time, by subject id."""
    ordered = patients.order_by("subject_id").values_list("pk", "subject_id", "site__code")
    last = None
    while True:
        page = ordered if last is None else ordered.filter(subject_id__gt=last)
        chunk = list(page[:PATIENT_CHUNK])
        if not chunk:
            return
        yield chunk
        if len(chunk) < PATIENT_CHUNK:
            return
        last = chunk[-1][1]


def _event_of(group, row):
    """(StudyEventOID, StudyEventRepeatKey) of a dataset row."""
    if group in TREATMENT_CYCLE.groups and row.get(CYCLE_COLUMN) is not None:
        return TREATMENT_CYCLE.oid, row[CYCLE_COLUMN]
    if group in END_OF_TREATMENT.groups:
        return END_OF_TREATMENT.oid, None
    return ENROLMENT.oid, None


#: The ItemData Value of a value of a column of these types: ``datasets.as_text`` for the
#: type (a column's values are of its type), never empty, never anything to escape.
_VALUE_TEXT = {
    "integer": str,
    "decimal": lambda value: format(value, "f"),
    "boolean": {True: "true", False: "false"}.__getitem__,
    "date": lambda value: value.isoformat(),
    "datetime": lambda value: value.isoformat(),
    "time": lambda value: value.isoformat(),
}


class _GroupWriter:
    """What writing a group's rows needs, worked out once per export: where the subject,
    the cycle and the repeat key sit in the dataset's tuples, and per item column its
    position and the start of its ItemData element."""

    def __init__(self, group):
        self.group = group
        names = group.definition.column_names
        self.subject = names.index("subject_id")
        self.cycle = names.index(CYCLE_COLUMN) if CYCLE_COLUMN in names else None
        self.repeat = names.index(group.repeat_key) if group.repeat_key not in (None, POSITION) else None
        self.in_cycle = group in TREATMENT_CYCLE.groups
        self.at_end = group in END_OF_TREATMENT.groups
        self.items = [(names.index(column.name), f'<ItemData ItemOID={_attribute(item_oid(group, column))} Value=',
                       _VALUE_TEXT.get(column.type)) for column in group.columns]
        self.opening = f"<ItemGroupData ItemGroupOID={_attribute(group.oid)}"

    def event_of(self, values):
        """(StudyEventOID, StudyEventRepeatKey) of a row, as :func:`_event_of`."""
        if self.in_cycle and self.cycle is not None and values[self.cycle] is not None:
            return TREATMENT_CYCLE.oid, values[self.cycle]
        if self.at_end:
            return END_OF_TREATMENT.oid, None
        return ENROLMENT.oid, None

    def extend(self, parts, repeat_key, values, change, audit, site_code):
        """The ItemGroupData element of one row, a line per element, onto ``parts``."""
        if self.group.repeating and repeat_key is not None:
            parts.append(f"{self.opening} ItemGroupRepeatKey={_attribute(str(repeat_key))}>")
        else:
            parts.append(self.opening + ">")
        if change is not None:
            audit.extend(parts, change, site_code)
        for index, start, to_text in self.items:
            value = values[index]
            if value is None:
                continue
            if to_text is None:  # text, or a value whose text needs escaping
                text = value if value.__class__ is str else as_text(value)
                if text != "":
                    parts.append(f"{start}{_attribute(text)}/>")
            else:
                parts.append(f'{start}"{to_text(value)}"/>')
        parts.append("</ItemGroupData>")


def _subject_events(chunk_pks, writers):
    """{subject: {(event oid, repeat key): {group: [(item group repeat key, row tuple)]}}}

    Each dataset table is read once for the whole chunk."""
    patients = Patient.objects.filter(pk__in=chunk_pks)
    subjects = {}
    for group in GROUPS:
        writer = writers[group]
        for values in group.definition.tuples(patients):
            events = subjects.setdefault(values[writer.subject], {})
            forms = events.setdefault(writer.event_of(values), {})
            rows = forms.setdefault(group, [])
            if group.repeat_key == POSITION:
                key = len(rows) + 1
            else:
                key = values[writer.repeat] if writer.repeat is not None else None
            rows.append((key, values))
    return subjects


def _event_order(event_key):
    oid, repeat = event_key
    return [e.oid for e in EVENTS].index(oid), repeat or 0


_EVENTS_BY_OID = {e.oid: e for e in EVENTS}


def _subject_data(subject, site_code, events, trail, writers, audit):
    """One SubjectData element: a line per element, as one string."""
    parts = [_open("SubjectData", {"SubjectKey": subject}),
             _empty("SiteRef", {"LocationOID": location_oid(site_code)})]
    for event_key in sorted(events, key=_event_order):
        event = _EVENTS_BY_OID[event_key[0]]
        attributes = {"StudyEventOID": event.oid}
        if event.repeating:
            attributes["StudyEventRepeatKey"] = event_key[1]
        parts.append(_open("StudyEventData", attributes))
        forms = events[event_key]
        for group in event.groups:
            if group not in forms:
                continue
            writer = writers[group]
            parts.append(_open("FormData", {"FormOID": group.form_oid}))
            for repeat_key, values in forms[group]:
                change = trail.get((group.table, subject, event_key[1], repeat_key))
                writer.extend(parts, repeat_key, values, change, audit, site_code)
            parts.append("</FormData>")
        parts.append("</StudyEventData>")
    parts.append("</SubjectData>")
    return "\n".join(parts)


def _clinical_data(patients):
    yield _open("ClinicalData", {"StudyOID": datasets.STUDY_OID, "MetaDataVersionOID": METADATA_VERSION_OID})
    writers = {group: _GroupWriter(group) for group in GROUPS}
    audit = _AuditLines()
    for chunk in _patient_chunks(patients):
        pks = [pk for pk, _subject, _site in chunk]
        subjects = {pk: subject for pk, subject, _site in chunk}
        events = _subject_events(pks, writers)
        trail = _audit_trail(pks, subjects)
        for _pk, subject, site_code in chunk:
            yield _subject_data(subject, site_code, events.get(subject, {}), trail, writers, audit)
    yield "</ClinicalData>"


# --- the file --------------------------------------------------------------------------------

def odm_xml(patients):
    """The cohort as a CDISC ODM 1.3.2 Snapshot file: an iterator of UTF-8 byte chunks, one
    per section and one per subject. Nothing is read before the first chunk is asked for."""
    return (f"{part}\n".encode("utf-8") for part in _odm_parts(patients))


def _odm_parts(patients):
    created = timezone.now()
    yield XML_DECLARATION
    yield _open("ODM", {"xmlns": ODM_NAMESPACE, "FileType": FILE_TYPE,
                        "FileOID": f"{datasets.STUDY_OID}.{created.strftime('%Y%m%dT%H%M%S%fZ')}",
                        "CreationDateTime": _utc(created), "ODMVersion": ODM_VERSION,
                        "Description": datasets.DEIDENTIFICATION_NOTE, "SourceSystem": SOURCE_SYSTEM})
    yield _study()
    yield _admin_data(patients, created)
    yield from _clinical_data(patients)
    yield "</ODM>"
