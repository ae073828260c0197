"""Import the ClinicalData of a CDISC ODM 1.3.2 file, as our ODM export writes it.

``import_odm(source, user=None, dry_run=False)`` reads a file written by
``exchange.exports.odm`` (or any file that uses the same OIDs) and creates
the subjects it holds, every record going through the services the forms use
(``core.services.record_save``, ``visits.services.cycle_save``), so every
model rule applies. All or nothing: one transaction; as many problems as can
be found are collected, then everything is rolled back and
:class:`OdmImportError` lists them, each with the path of the element it is
about, e.g.::

    /ODM/ClinicalData/SubjectData[@SubjectKey="01-003"]/StudyEventData[@StudyEventOID="SE.CYCLE"]
    [@StudyEventRepeatKey="2"]/FormData[@FormOID="F.ASSESSMENT"]/ItemGroupData[@ItemGroupOID="IG.ASSESSMENTS"]
    /ItemData[@ItemOID="IT.ASSESSMENTS.CK_U_PER_L"]: CK cannot be negative.

Reporting N errors is linear work: each parent's children are indexed once
for the paths (:class:`ElementPaths`), never scanned again for each error.

The checks, in order:

1. the file parses (no DTD or entity is loaded, no XInclude processed, no
   network used; libxml2's limits on depth, text size and entity expansion
   hold) and holds no DOCTYPE, no entity reference and no element outside the
   ODM and XML-signature namespaces (an ``xi:include`` among them: refused,
   never processed); comments and processing instructions are not data and
   are ignored; then it is valid against the ODM 1.3.2 schema (vendored in
   ``exchange/schemas/odm-1.3.2``); if not, nothing else is checked;
2. every OID is ours: ClinicalData StudyOID and MetaDataVersionOID, and each
   StudyEventOID, FormOID (in its event), ItemGroupOID (in its form) and
   ItemOID (in its item group) of the export's metadata
   (``exchange.exports.odm.EVENTS`` / ``GROUPS``); repeat keys are present
   where the design repeats and unique; only inserts (no TransactionType, or
   ``Insert``);
3. every value has its item's data type (integer, float, ISO date, time,
   datetime, boolean ``true``/``false``/``1``/``0``) and, for coded items,
   is in the code list;
4. a subject that already exists is refused (the import only adds subjects);
5. the records are built and saved through the services: every model rule
   (``Model.full_clean`` via ``record_save``; a cycle with its assessment and
   infusions via ``cycle_save``) applies, and the model's field errors are
   reported on the matching ItemData. A patient record the rules refuse is
   stored anyway for the rest of the check (it never outlives the
   transaction, which is rolled back), so the subject's other records are
   checked too; a patient the database itself refuses (a check constraint)
   leaves the subject's other records unchecked;
6. after import, the derived items of the file are compared with what the
   rules compute from the imported data (through the same ``datasets`` rows
   the export writes): a difference is an error. Only subjects without any
   other problem are compared (a refused cycle changes its neighbours'
   derived values).

Mapping back (decisions):

- Sites: the SiteRef (``LOC.<code>``, or the ``IT.PATIENTS.SITE`` item) names
  the site; a site missing from the database is created from the AdminData
  Location of that OID (its Name; time zone: the model default, to be set by
  an administrator), so a file can be imported into an empty database; with
  no Location to create it from, it is an error.
- Patients: the file is de-identified (age at enrolment, no year of birth).
  The year of birth is derived so the age comes back: with the mid-year
  imputation of ``patients.rules.age_at`` (born 1 July), year = enrolment
  year - age, minus 1 when the enrolment date is before 1 July; i.e. the
  year for which ``age_at(enrolment_date, year) == age``. The eligibility
  flags are not exported: an enrolled patient met them, so
  ``active_myopathy`` is set and ``ctd_associated`` is not.
- Status: a patient is created in screening (file status ``screening``) or
  on study; after the cycles, the end-of-treatment assessment and the adverse
  events it is moved to the file's final status (completed, or withdrawn with
  the file's date and reason) through the model's transition rules; cycles
  and infusions are then checked again against the withdrawal date.
- Derived items (disease duration, first infusion, Bohan & Peter certainty,
  EULAR/ACR score and class, DM rash, age at onset, malignancy timing, planned
  start, dosing weight, prescribed doses, MMT-8 total, rate per kg) are not
  imported: the rules compute them; step 6 checks they agree. An age at onset
  that differs is a warning, not an error (a source with a full date of birth
  can give an age at onset that no year of birth reproduces), and so are the
  EULAR/ACR score and class of that subject, which depend on it.
- Adverse events: ``ae_id`` (the ItemGroupRepeatKey) is the source's key; the
  event gets a new id here. ``entered_at`` and ``reviewed_at`` are system
  fields of the source: not imported (a serious event reviewed in the source
  is flagged as awaiting review again, with a warning). Nor is the source's
  SAE clock (``aware_at``, ``report_due_at``, ``reported_late``): it ran
  against the source's entry, which is not imported; here the import is the
  entry and the awareness defaults to it (``safety.services``). The linked infusion
  is found from the items ``cycle`` and ``day``.
- Protocol deviations are not imported: ``cycle_save`` recomputes them. The
  open deviations (kind, day) recomputed for each cycle are compared with the
  file's unresolved IG.DEVIATIONS rows; a difference is a warning in the
  result, not an error. Resolved deviations of the source are not recreated.
- An item the file leaves out takes the model's default, as a new form would
  (empty text, no value, ``false``).
- Audit trail: every history row written carries the importing user (none:
  system) and the reason ``Imported from ODM file <name>``. ``cycle_save``
  gives new records no reason for change, so a receiver of simple-history's
  ``pre_create_historical_record``, active only in the context of a running
  import, fills in the import's reason where a row has none. The source's
  AuditRecords are not replayed: the history here starts with the import.
"""

import bisect
import contextvars
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from io import BytesIO
from pathlib import Path

from django.core.exceptions import NON_FIELD_ERRORS, FieldDoesNotExist, ValidationError
from django.db import DatabaseError, transaction
from django.utils.text import capfirst
from lxml import etree
from simple_history.signals import pre_create_historical_record

from accounts.models import Site
from core.services import record_save
from patients import rules as patient_rules
from patients.models import Diagnosis, MalignancyHistory, Patient, PatientStatus
from safety.models import AdverseEvent
from safety.services import adverse_event_save
from visits.models import (Assessment, AssessmentTimepoint, Infusion, ProtocolDeviation,
                           TreatmentCycle)
from visits.services import CyclePartError, CycleParts, cycle_save

from .. import datasets
from ..exports import odm

SCHEMA_PATH = Path(datasets.__file__).resolve().parent / "schemas" / "odm-1.3.2" / "ODM1-3-2.xsd"
NS = {"odm": odm.ODM_NAMESPACE}
REASON = "Imported from ODM file {name}"

#: Columns read into model fields: table -> {column: model field}.
IMPORTED = {
    "patients": {name: name for name in (
        "sex", "race", "consent_date", "enrolment_date", "symptom_onset_date", "steroid_contraindication",
        "renal_risk", "thrombotic_risk", "suspected_cause", "suspected_cause_detail", "status",
        "withdrawal_date", "withdrawal_reason")},
    "diagnoses": {"diagnosis": "kind", "diagnosis_date": "diagnosis_date",
                  **{name: name for name, _label in datasets.DIAGNOSIS_FLAGS}},
    "malignancies": {"malignancy": "malignancy_type", "diagnosis_date": "diagnosis_date", "status": "status",
                     "certainty": "certainty"},
    "cycles": {name: name for name in ("start_date", "weight_kg", "height_cm", "dosing_basis")},
    "assessments": {name: name for name in (
        "timepoint", "assessment_date", "mmt_scale", *(c.name for c in datasets.GRADE_COLUMNS),
        *(c.name for c in datasets.LAB_COLUMNS), *(c.name for c in datasets.SCORE_COLUMNS))},
    "infusions": {name: name for name in (
        "infusion_date", "start_time", "end_time", "product", "lot", "concentration_pct", "volume_ml",
        "dose_g", "max_rate_ml_per_h")},
    "adverse_events": {name: name for name in (
        "term", "onset_date", "end_date", "grade", "serious", *datasets.AE_CRITERIA, "relatedness",
        "action_taken", "outcome")},
    "deviations": {},
}
#: Columns read with their own logic: the site, the age (-> year of birth), the linked infusion.
SPECIAL = {"patients": ("site", "age"), "adverse_events": ("cycle", "day")}
#: Derived columns: not imported; compared after import with what the rules compute.
DERIVED = {
    "patients": ("first_infusion_date", "disease_duration_months"),
    "diagnoses": ("dm_rash", "bohan_peter_certainty", "age_at_onset", "eular_acr_score", "eular_acr_class"),
    "malignancies": ("timing",),
    "cycles": ("planned_start_date", "dosing_weight_kg", "prescribed_daily_dose_g"),
    "assessments": ("mmt_total",),
    "infusions": ("prescribed_dose_g", "max_rate_ml_per_kg_min"),
}
#: Columns of the source system that are not imported nor compared (deviations are recomputed;
#: their kind and day are compared, as warnings).
NOT_IMPORTED = {
    "adverse_events": ("entered_at", "aware_at", "report_due_at", "reported_late", "reviewed_at"),
    "deviations": ("day", "kind", "description", "detected_at", "resolved_at", "resolution"),
}
#: Compared after import: the derived columns, and the age the year of birth was derived from.
VERIFIED = {**DERIVED, "patients": ("age", *DERIVED["patients"])}
#: An age at onset that differs makes these a warning too (they depend on it).
AGE_AT_ONSET_DEPENDENT = ("age_at_onset", "eular_acr_score", "eular_acr_class")
#: Model fields reported on an item that is not their own column.
FIELD_ITEMS = {"patients": {"birth_year": "age", "birth_date": "age", "site": "site"},
               "adverse_events": {"infusion": "cycle"}}

KEY_ATTRIBUTES = {
    "ODM": (), "ClinicalData": (), "SiteRef": (), "AuditRecord": (),
    "SubjectData": ("SubjectKey",),
    "StudyEventData": ("StudyEventOID", "StudyEventRepeatKey"),
    "FormData": ("FormOID", "FormRepeatKey"),
    "ItemGroupData": ("ItemGroupOID", "ItemGroupRepeatKey"),
    "ItemData": ("ItemOID",),
}
EVENTS_BY_OID = {event.oid: event for event in odm.EVENTS}
GROUPS_BY_FORM = {group.form_oid: group for group in odm.GROUPS}
GROUPS_BY_OID = {group.oid: group for group in odm.GROUPS}
ITEM_DATA = f"{{{odm.ODM_NAMESPACE}}}ItemData"
TYPED_ITEM_DATA = re.compile(rf"^\{{{re.escape(odm.ODM_NAMESPACE)}\}}ItemData.+")
#: The namespaces of the ODM 1.3.2 schema's elements: ODM's and the XML signature's (ds:Signature).
XMLDSIG_NAMESPACE = "http://www.w3.org/2000/09/xmldsig#"
KNOWN_NAMESPACES = (odm.ODM_NAMESPACE, XMLDSIG_NAMESPACE)
KNOWN_TAG_PREFIXES = tuple(f"{{{namespace}}}" for namespace in KNOWN_NAMESPACES)
XINCLUDE_NAMESPACES = ("http://www.w3.org/2001/XInclude", "http://www.w3.org/2003/XInclude")
#: One step of a libxml2 node path (schema errors): ``*``, ``name`` or ``prefix:name``, maybe ``[n]``.
NODE_STEP = re.compile(r"^(?P<name>\*|[^\[\]@()/]+)(?:\[(?P<position>\d+)\])?$")
LOCATION_OID = re.compile(r"^LOC\.(?P<code>.+)$")
# ASCII digits only: ``\d``, int(), Decimal() and date parsing read other scripts' digits too.
ISO_DATE = re.compile(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
INTEGER = re.compile(r"\A[+-]?[0-9]+\Z")
BOOLEANS = {"true": True, "1": True, "false": False, "0": False}


# --- results and errors -----------------------------------------------------------------------

@dataclass(frozen=True)
class ImportIssue:
    """One problem (or warning) with the element it is about."""

    path: str
    message: str
    line: int | None = None

    def __str__(self):
        where = f" (line {self.line})" if self.line else ""
        return f"{self.path}: {self.message}{where}"


class OdmImportError(Exception):
    """The file was refused; nothing was imported. ``errors``: the :class:`ImportIssue` list."""

    def __init__(self, errors):
        self.errors = list(errors)
        super().__init__(f"{len(self.errors)} error(s), nothing imported:\n"
                         + "\n".join(str(e) for e in self.errors))


COUNTED = ("patients", "diagnoses", "malignancies", "cycles", "assessments", "infusions", "adverse_events",
           "deviations")


@dataclass
class ImportResult:
    source: str
    dry_run: bool
    counts: dict = field(default_factory=lambda: dict.fromkeys(COUNTED, 0))
    sites_created: list = field(default_factory=list)
    warnings: list = field(default_factory=list)  # ImportIssue

    def summary(self):
        counts = ", ".join(f"{name.replace('_', ' ')} {n}" for name, n in self.counts.items())
        created = "sites to create" if self.dry_run else "sites created"
        sites = f"; {created}: {', '.join(self.sites_created)}" if self.sites_created else ""
        return f"{counts}{sites}"


# --- the audit trail: the import's reason on every history row it writes -------------------------

_IMPORT_AUDIT = contextvars.ContextVar("odm_import_audit", default=None)


def _fill_import_audit(sender, history_instance, **kwargs):
    """``cycle_save`` gives new records (and recomputed deviations) no reason for change; during
    an import every history row it writes carries the import's reason (and user). Active only in
    the context (thread, task) of a running import."""
    audit = _IMPORT_AUDIT.get()
    if audit is None:
        return
    user, reason = audit
    if not history_instance.history_change_reason:
        history_instance.history_change_reason = reason
    if user is not None and history_instance.history_user_id is None:
        history_instance.history_user = user


pre_create_historical_record.connect(_fill_import_audit, dispatch_uid="exchange.imports.odm.audit",
                                     weak=False)


# --- element paths --------------------------------------------------------------------------------

def _quoted(value):
    return '"' + str(value).replace('"', "&quot;") + '"'


def _name(element):
    """ODM and XML-signature elements by their local name; any other by ``prefix:name`` (or
    ``{namespace}name``), so a foreign element is named as the file writes it."""
    qname = etree.QName(element)
    if qname.namespace in (None, *KNOWN_NAMESPACES):
        return qname.localname
    return f"{element.prefix}:{qname.localname}" if element.prefix else qname.text


class _Siblings:
    """The element children of one parent, indexed in one pass: the position of each among its
    same-named siblings (for our paths), and the groups libxml2's node paths count in."""

    def __init__(self, parent):
        self.count = {}  # tag -> number of children with it
        self.position = {}  # child -> its position (0-based) among the children with its tag
        self.elements = []  # every element child: libxml2's "*[n]"
        self.named = {}  # libxml2's "name[n]" or "prefix:name[n]": (prefix or "", name) -> children
        for child in parent:
            if not isinstance(child.tag, str):
                continue  # a comment, processing instruction or entity reference
            self.position[child] = self.count.get(child.tag, 0)
            self.count[child.tag] = self.position[child] + 1
            self.elements.append(child)
            qname = etree.QName(child)
            if qname.namespace is None or child.prefix:
                self.named.setdefault((child.prefix or "", qname.localname), []).append(child)


class ElementPaths:
    """The path of an element for messages: ``/ODM/ClinicalData/SubjectData[@SubjectKey="01-003"]
    /...``, each step with its key attributes (OID for metadata), or its position among same-named
    siblings when it has none.

    Linear in the elements asked about: the children of a parent are indexed once
    (:class:`_Siblings`), the path of a parent is built once, so N errors among N siblings cost
    O(N), not a scan of all siblings per error. ``children_indexed`` counts the children indexed
    (the work, for the tests)."""

    def __init__(self):
        self._siblings = {}  # parent element -> _Siblings
        self._paths = {}  # element with a child asked about -> its path
        self.children_indexed = 0

    def siblings(self, parent):
        index = self._siblings.get(parent)
        if index is None:
            index = self._siblings[parent] = _Siblings(parent)
            self.children_indexed += len(index.elements)
        return index

    def step(self, element, parent):
        name = _name(element)
        keys = KEY_ATTRIBUTES.get(name, ("OID",))
        step = name + "".join(f"[@{a}={_quoted(element.get(a))}]" for a in keys if element.get(a) is not None)
        if step == name and parent is not None:
            siblings = self.siblings(parent)
            if siblings.count[element.tag] > 1:
                step += f"[{siblings.position[element] + 1}]"
        return step

    def __call__(self, element):
        # The nearest ancestor whose path is known, then down (no recursion: depth is the file's).
        chain = []
        parent = element.getparent()
        while parent is not None and parent not in self._paths:
            chain.append(parent)
            parent = parent.getparent()
        path = "" if parent is None else self._paths[parent]
        for ancestor in reversed(chain):
            path = self._paths[ancestor] = f"{path}/{self.step(ancestor, ancestor.getparent())}"
        return f"{path}/{self.step(element, element.getparent())}"

    def resolve(self, tree, node_path):
        """The element a libxml2 node path (``/*/*[3]/xi:include``, as in a schema error) is about,
        found step by step through the indexed siblings (an XPath query would need the file's
        namespace prefixes, and scan the siblings again for each error); None if it names none.
        A path to an attribute or a text node gives its element."""
        element = None
        for step in node_path.split("/")[1:]:
            match = NODE_STEP.match(step)
            if match is None:
                break  # @attribute, text(), comment(): the element reached is the one
            name, position = match["name"], int(match["position"] or 1) - 1
            if element is None:
                candidates = [tree.getroot()]
            elif name == "*":
                candidates = self.siblings(element).elements
            else:
                prefix, _colon, local = name.rpartition(":")
                candidates = self.siblings(element).named.get((prefix, local), [])
            if not 0 <= position < len(candidates):
                return None
            element = candidates[position]
        return element


def item_path(group_path, item_oid):
    return f"{group_path}/ItemData[@ItemOID={_quoted(item_oid)}]"


# --- what the reader makes of the file --------------------------------------------------------------

@dataclass
class GroupRecord:
    """One ItemGroupData: its values parsed by column type (absent items are absent)."""

    group: odm.Group
    path: str
    line: int
    repeat_key: str | None
    values: dict = field(default_factory=dict)
    bad: bool = False

    def item_path(self, column):
        return item_path(self.path, odm.item_oid(self.group, _column(self.group, column)))


@dataclass
class CycleRecord:
    number: int
    path: str
    line: int
    cycle: GroupRecord | None = None
    assessment: GroupRecord | None = None
    infusions: dict = field(default_factory=dict)  # day -> GroupRecord
    deviations: list = field(default_factory=list)


@dataclass
class SubjectRecord:
    key: str
    path: str
    line: int
    location_oid: str | None = None
    site_path: str | None = None
    patient: GroupRecord | None = None
    diagnosis: GroupRecord | None = None
    malignancies: list = field(default_factory=list)
    adverse_events: list = field(default_factory=list)
    cycles: dict = field(default_factory=dict)  # number -> CycleRecord
    end_of_treatment: GroupRecord | None = None


def _column(group, name):
    return next(c for c in group.definition.columns if c.name == name)


# --- reading: schema, OIDs, types ----------------------------------------------------------------------

def _schema():
    # The path (not a string of the file) lets the schema's relative imports resolve. A few
    # milliseconds: built per import rather than shared between threads.
    return etree.XMLSchema(etree.parse(str(SCHEMA_PATH)))


def _parse_file(source):
    # No DTD loaded, no entity resolved, no network, no XInclude (lxml processes it only when
    # asked: never here), no gzip: the file is read as it is, and nothing else is.
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                             decompress=False)
    if isinstance(source, (bytes, bytearray)):
        source = BytesIO(source)
    elif isinstance(source, Path):
        source = str(source)
    try:
        return etree.parse(source, parser)
    except etree.XMLSyntaxError as exc:
        raise OdmImportError([ImportIssue("/", f"The file is not well-formed XML: {exc}",
                                          getattr(exc, "lineno", None))]) from exc
    except OSError as exc:  # unreadable (a directory, no permission), or bytes not in its encoding
        raise OdmImportError([ImportIssue("/", f"The file cannot be read as XML: {exc}")]) from exc


def _markup_errors(tree, paths):
    """What the schema does not see, or must not be given: a DOCTYPE (a DTD, entities: an entity
    reference is left as it is, and libxml2's schema validator cannot check it), an entity
    reference, an element outside the ODM and XML-signature namespaces, XInclude among them (never
    processed: the file must hold its data itself). Comments and processing instructions are not
    data: they are ignored. One pass over the file."""
    errors = []
    info = tree.docinfo
    if info.doctype or info.internalDTD is not None or info.system_url or info.public_id:
        errors.append(ImportIssue("/", "A DOCTYPE (DTD) is not accepted: an ODM file is checked against the "
                                       "ODM 1.3.2 schema; its entities are neither read nor expanded.", 1))
    for node in tree.getroot().iter():
        if node.tag is etree.Entity:
            errors.append(ImportIssue(paths(node.getparent()), f"The entity reference {node.text} is not "
                                      f"accepted: write the value itself.", node.sourceline))
        elif isinstance(node.tag, str) and not node.tag.startswith(KNOWN_TAG_PREFIXES):
            namespace = etree.QName(node).namespace
            if namespace in XINCLUDE_NAMESPACES:
                errors.append(ImportIssue(paths(node), "XInclude is not processed: the file must hold its data "
                                                       "itself.", node.sourceline))
            elif namespace not in KNOWN_NAMESPACES:
                errors.append(ImportIssue(paths(node), f"The element {node.tag} is not part of ODM 1.3.2 (only "
                                                       f"the ODM and XML-signature namespaces are).",
                                          node.sourceline))
    return errors


def _schema_errors(tree, paths):
    schema = _schema()
    try:
        if schema.validate(tree):
            return []
    except etree.XMLSchemaValidateError as exc:  # pragma: no cover - what _markup_errors refuses
        return [ImportIssue("/", f"The file could not be checked against the ODM 1.3.2 schema: {exc}")]
    errors = []
    for entry in schema.error_log:
        element = paths.resolve(tree, entry.path) if entry.path else None
        path = paths(element) if element is not None else (entry.path or "/")
        message = entry.message.replace(f"{{{odm.ODM_NAMESPACE}}}", "")
        errors.append(ImportIssue(path, f"Not valid ODM 1.3.2: {message}", entry.line))
    return errors


def _parse_value(column, text):
    """The item's text as a Python value of the column's type; ValueError with a message if not."""
    kind = column.type
    if kind == "string":
        return text
    if not text.isascii():  # Decimal("٧٠") is 70: a typed value is written in ASCII
        raise ValueError(f"{text!r} is not a {kind} written in ASCII digits.")
    if kind == "integer":
        if not INTEGER.match(text.strip()):
            raise ValueError(f"{text!r} is not an integer.")
        return int(text)
    if kind == "decimal":
        try:
            value = Decimal(text.strip())
        except InvalidOperation:
            raise ValueError(f"{text!r} is not a number.") from None
        if not value.is_finite():
            raise ValueError(f"{text!r} is not a finite number.")
        return value
    if kind == "date":
        try:
            if not ISO_DATE.match(text.strip()):
                raise ValueError
            return date.fromisoformat(text.strip())
        except ValueError:
            raise ValueError(f"{text!r} is not a date (YYYY-MM-DD).") from None
    if kind == "time":
        try:
            return time.fromisoformat(text.strip())
        except ValueError:
            raise ValueError(f"{text!r} is not a time (HH:MM[:SS]).") from None
    if kind == "datetime":
        try:
            return datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{text!r} is not a date and time (ISO 8601).") from None
    if kind == "boolean":
        if text.strip() not in BOOLEANS:
            raise ValueError(f"{text!r} is not a boolean (true or false).")
        return BOOLEANS[text.strip()]
    raise ValueError(f"Unknown column type {kind}.")  # pragma: no cover - the datasets define the types


class _Reader:
    """Walks ClinicalData: checks the OIDs, keys and values; builds SubjectRecords."""

    def __init__(self, paths):
        self.errors = []
        self.paths = paths

    def error(self, element_or_path, message, line=None):
        if isinstance(element_or_path, str):
            self.errors.append(ImportIssue(element_or_path, message, line))
        else:
            self.errors.append(ImportIssue(self.paths(element_or_path), message, element_or_path.sourceline))

    def read(self, root):
        locations = {loc.get("OID"): loc.get("Name")
                     for loc in root.iterfind("odm:AdminData/odm:Location", NS)}
        subjects = {}
        for clinical in root.iterfind("odm:ClinicalData", NS):
            if clinical.get("StudyOID") != datasets.STUDY_OID:
                self.error(clinical, f"Unknown StudyOID {clinical.get('StudyOID')!r}: this study is "
                                     f"{datasets.STUDY_OID!r}.")
                continue
            if clinical.get("MetaDataVersionOID") != odm.METADATA_VERSION_OID:
                self.error(clinical, f"Unknown MetaDataVersionOID {clinical.get('MetaDataVersionOID')!r}: "
                                     f"this study's is {odm.METADATA_VERSION_OID!r}.")
                continue
            for element in clinical.iterfind("odm:SubjectData", NS):
                subject = self.subject(element)
                if subject.key in subjects:
                    self.error(element, f"Subject {subject.key} appears twice in the file.")
                    continue
                subjects[subject.key] = subject
        return subjects, locations

    def _inserts_only(self, element):
        kind = element.get("TransactionType")
        if kind not in (None, "Insert"):
            self.error(element, f"TransactionType {kind!r} is not supported: the import only inserts "
                                f"new subjects.")

    def subject(self, element):
        subject = SubjectRecord(element.get("SubjectKey"), self.paths(element), element.sourceline)
        before = len(self.errors)
        self._inserts_only(element)
        site_ref = element.find("odm:SiteRef", NS)
        if site_ref is not None:
            subject.location_oid, subject.site_path = site_ref.get("LocationOID"), self.paths(site_ref)
        events = set()
        for event_element in element.iterfind("odm:StudyEventData", NS):
            self._inserts_only(event_element)
            oid, key = event_element.get("StudyEventOID"), event_element.get("StudyEventRepeatKey")
            event = EVENTS_BY_OID.get(oid)
            if event is None:
                self.error(event_element, f"Unknown StudyEventOID {oid!r}: the study's events are "
                                          f"{', '.join(EVENTS_BY_OID)}.")
                continue
            if event.repeating:
                if key is None or not INTEGER.match(key) or int(key) < 1:
                    self.error(event_element, f"{oid} repeats: its StudyEventRepeatKey is the cycle number "
                                              f"(1, 2, ...), not {key!r}.")
                    continue
                key = int(key)
            elif key is not None:
                self.error(event_element, f"{oid} does not repeat: it has no StudyEventRepeatKey.")
                continue
            if (oid, key) in events:
                self.error(event_element, f"{oid}{'' if key is None else f' {key}'} appears twice.")
                continue
            events.add((oid, key))
            self.event(subject, event, key, event_element)
        if subject.patient is None and len(self.errors) == before:  # no error in the subject says why
            self.error(element, f"No patient record: {odm.ENROLMENT.oid} needs the form {odm.PATIENT.form_oid} "
                                f"({odm.PATIENT.oid}).")
        return subject

    def event(self, subject, event, key, element):
        cycle = None
        if event is odm.TREATMENT_CYCLE:
            cycle = subject.cycles[key] = CycleRecord(key, self.paths(element), element.sourceline)
        before = len(self.errors)
        forms = set()
        for form_element in element.iterfind("odm:FormData", NS):
            self._inserts_only(form_element)
            oid = form_element.get("FormOID")
            group = GROUPS_BY_FORM.get(oid)
            if group is None:
                self.error(form_element, f"Unknown FormOID {oid!r}.")
                continue
            if group not in event.groups:
                self.error(form_element, f"The form {oid} does not belong to the event {event.oid} (its "
                                         f"forms: {', '.join(g.form_oid for g in event.groups)}).")
                continue
            if form_element.get("FormRepeatKey") is not None:
                self.error(form_element, f"The form {oid} does not repeat: it has no FormRepeatKey.")
                continue
            if oid in forms:
                self.error(form_element, f"The form {oid} appears twice in this event.")
                continue
            forms.add(oid)
            records = self.item_groups(group, form_element)
            self.place(subject, event, cycle, group, records)
        if cycle is not None and cycle.cycle is None and len(self.errors) == before:
            self.error(element, f"A treatment cycle needs the form {odm.CYCLE.form_oid} ({odm.CYCLE.oid}).")

    def place(self, subject, event, cycle, group, records):
        if group is odm.PATIENT:
            subject.patient = records[0] if records else None
        elif group is odm.DIAGNOSIS:
            subject.diagnosis = records[0] if records else None
        elif group is odm.MALIGNANCIES:
            subject.malignancies += records
        elif group is odm.ADVERSE_EVENTS:
            subject.adverse_events += records
        elif group is odm.CYCLE:
            cycle.cycle = records[0] if records else None
        elif group is odm.ASSESSMENT and event is odm.END_OF_TREATMENT:
            subject.end_of_treatment = records[0] if records else None
        elif group is odm.ASSESSMENT:
            cycle.assessment = records[0] if records else None
        elif group is odm.INFUSIONS:
            cycle.infusions.update({int(r.repeat_key): r for r in records})
        elif group is odm.DEVIATIONS:
            cycle.deviations += records

    def item_groups(self, group, form_element):
        records, keys = [], set()
        for element in form_element.iterfind("odm:ItemGroupData", NS):
            self._inserts_only(element)
            oid, key = element.get("ItemGroupOID"), element.get("ItemGroupRepeatKey")
            if oid != group.oid:
                known = f"it belongs to {GROUPS_BY_OID[oid].form_oid}" if oid in GROUPS_BY_OID else "unknown"
                self.error(element, f"ItemGroupOID {oid!r} in the form {group.form_oid} ({known}); this form "
                                    f"holds {group.oid}.")
                continue
            if group.repeating:
                integer_key = group.repeat_key != odm.POSITION
                if key is None or (integer_key and not INTEGER.match(key)):
                    self.error(element, f"{oid} repeats: it needs an ItemGroupRepeatKey"
                                        f"{' (an integer)' if integer_key else ''}, not {key!r}.")
                    continue
                if group is odm.INFUSIONS and int(key) not in (1, 2):
                    self.error(element, f"The infusion day (ItemGroupRepeatKey) is 1 or 2, not {key}.")
                    continue
            elif key is not None:
                self.error(element, f"{oid} does not repeat: it has no ItemGroupRepeatKey.")
                continue
            if (key if group.repeating else None) in keys or (not group.repeating and keys):
                self.error(element, f"{oid}{'' if key is None else f' {key}'} appears twice in this form.")
                continue
            keys.add(key if group.repeating else None)
            records.append(self.item_group(group, key, element))
        return records

    def item_group(self, group, key, element):
        record = GroupRecord(group, self.paths(element), element.sourceline, key)
        columns = {odm.item_oid(group, column): column for column in group.columns}
        before = len(self.errors)
        for item in element:
            if not isinstance(item.tag, str):
                continue  # a comment
            if TYPED_ITEM_DATA.match(item.tag):
                self.error(item, f"{etree.QName(item).localname} is not supported: give the value as "
                                 f"ItemData Value=\"...\".")
                continue
            if item.tag != ITEM_DATA:
                continue  # AuditRecord, Signature, Annotation: the source's, not imported
            self._inserts_only(item)
            oid = item.get("ItemOID")
            column = columns.get(oid)
            if column is None:
                self.error(item, f"Unknown ItemOID {oid!r} in {group.oid}.")
                continue
            if column.name in record.values:
                self.error(item, f"{oid} appears twice in this item group.")
                continue
            text = item.get("Value")
            if text is None or item.get("IsNull") == "Yes":
                record.values[column.name] = None
                continue
            try:
                value = _parse_value(column, text)
            except ValueError as exc:
                self.error(item, f"{exc} {oid} is of type {odm.DATA_TYPES[column.type]}.")
                continue
            if odm.has_code_list(column):
                allowed = [code for code, _label in odm.parse_codes(column.codes)]
                if str(value) not in allowed:
                    self.error(item, f"{text!r} is not in the code list {odm.code_list_oid(group, column)} "
                                     f"({', '.join(allowed)}).")
                    continue
            record.values[column.name] = value
        record.bad = len(self.errors) > before
        return record


# --- writing: records through the services ------------------------------------------------------------

def birth_year_for(age, enrolment_date):
    """The year of birth that gives ``age`` on ``enrolment_date`` under the mid-year imputation of
    ``patients.rules.age_at``: enrolment year - age, minus one before 1 July."""
    for year in (enrolment_date.year - age, enrolment_date.year - age - 1):
        if patient_rules.age_at(enrolment_date, year) == age:
            return year
    return None  # pragma: no cover - one of the two always matches


@dataclass
class _Imported:
    """What one subject became: for the checks after import."""

    subject: SubjectRecord
    patient: Patient
    malignancies: list = field(default_factory=list)  # (MalignancyHistory, GroupRecord)
    cycles: dict = field(default_factory=dict)  # number -> (TreatmentCycle, {day: Infusion}, CycleRecord)
    refused: bool = False  # the patient broke a rule: checking the other records only
    age_at_onset_differs: bool = False


class _Writer:
    def __init__(self, *, user, reason, locations, result):
        self.user, self.reason, self.locations, self.result = user, reason, locations, result
        self.errors, self.warnings = [], result.warnings
        self.sites = {}

    def error(self, path, message, line=None):
        self.errors.append(ImportIssue(path, message, line))

    def warning(self, path, message, line=None):
        self.warnings.append(ImportIssue(path, message, line))

    def rule_errors(self, exc, record, *, model, elsewhere=None):
        """A model's ValidationError, each field's messages on the item it came from (or on
        ``elsewhere[field]``, or on the item group with the field's name)."""
        table = record.group.table
        items = {f: c for c, f in IMPORTED.get(table, {}).items()} | FIELD_ITEMS.get(table, {})
        columns = {c.name for c in record.group.columns}
        for name, messages in _messages(exc):
            column = items.get(name)
            if column in columns:
                self.error(record.item_path(column), " ".join(messages), record.line)
                continue
            if elsewhere and name in elsewhere:
                self.error(elsewhere[name], " ".join(messages), record.line)
                continue
            prefix = ""
            if name != NON_FIELD_ERRORS:
                try:
                    prefix = f"{capfirst(model._meta.get_field(name).verbose_name)}: "
                except FieldDoesNotExist:
                    prefix = f"{name}: "
            self.error(record.path, prefix + " ".join(messages), record.line)

    def save(self, instance, record, elsewhere=None):
        """``record_save`` with the import's user and reason; False (errors noted) if refused."""
        try:
            if isinstance(instance, AdverseEvent):  # its service derives the SAE clock
                adverse_event_save(event=instance, reason=self.reason, user=self.user)
            else:
                record_save(instance=instance, reason=self.reason, user=self.user)
        except ValidationError as exc:
            self.rule_errors(exc, record, model=type(instance), elsewhere=elsewhere)
            return False
        return True

    # Sites -----------------------------------------------------------------------------------------

    def site(self, subject):
        record = subject.patient
        item_code = record.values.get("site")
        code = None
        if subject.location_oid is not None:
            match = LOCATION_OID.match(subject.location_oid)
            if not match:
                self.error(subject.site_path, f"LocationOID {subject.location_oid!r} is not a site "
                                              f"(LOC.<site code>).", subject.line)
                return None
            code = match["code"]
            if item_code is not None and item_code != code:
                self.error(record.item_path("site"), f"The site item ({item_code}) differs from the "
                                                     f"SiteRef ({subject.location_oid}).", record.line)
                return None
        code = code or item_code
        if code is None:
            self.error(subject.path, "No site: give a SiteRef (LOC.<site code>) or the site item.", subject.line)
            return None
        if code not in self.sites:
            self.sites[code] = self._site(code, subject)
        return self.sites[code]

    def _site(self, code, subject):
        oid = odm.location_oid(code)
        name = self.locations.get(oid)
        path = subject.site_path or subject.patient.item_path("site")
        site = Site.objects.filter(code=code).first()
        if site is not None:
            if name and name != site.name:
                self.warning(path, f"Site {code} is {site.name!r} here; the file names it {name!r}: kept "
                                   f"{site.name!r}.", subject.line)
            return site
        if not name:
            self.error(path, f"Site {code} does not exist and the file has no AdminData Location {oid} "
                             f"(with a Name) to create it from.", subject.line)
            return None
        site = Site(code=code, name=name)
        try:
            site.full_clean()
        except ValidationError as exc:
            for _name, messages in _messages(exc):
                self.error(path, f"Site {code} cannot be created: {' '.join(messages)}", subject.line)
            return None
        site._history_user, site._change_reason = self.user, self.reason
        site.save()
        self.result.sites_created.append(code)
        return site

    # Subjects --------------------------------------------------------------------------------------

    def subject(self, subject):
        """Import one subject; its ``_Imported``, or None when refused (the errors say why)."""
        if Patient.objects.filter(subject_id=subject.key).exists():
            self.error(subject.path, f"Subject {subject.key} already exists: the import only adds new "
                                     f"subjects.", subject.line)
            return None
        if subject.patient is None or subject.patient.bad:
            return None
        site = self.site(subject)  # outside the subject's savepoint: other subjects share it
        try:
            with transaction.atomic():
                return self._subject(subject, site)
        except DatabaseError as exc:
            self.error(subject.path, f"The database refused the subject: {exc}", subject.line)
            return None

    def _subject(self, subject, site):
        patient, refused = self.patient(subject, site)
        if patient is None:
            return None
        imported = _Imported(subject, patient, refused=refused)
        if subject.diagnosis is not None and not subject.diagnosis.bad:
            if self.save(self._build(Diagnosis, subject.diagnosis, patient=patient), subject.diagnosis):
                self.result.counts["diagnoses"] += 1
        for record in subject.malignancies:
            malignancy = self._build(MalignancyHistory, record, patient=patient)
            if not record.bad and self.save(malignancy, record):
                imported.malignancies.append((malignancy, record))
                self.result.counts["malignancies"] += 1
        for number in sorted(subject.cycles):
            self.cycle(imported, subject.cycles[number])
        if subject.end_of_treatment is not None and not subject.end_of_treatment.bad:
            self.end_of_treatment(imported, subject.end_of_treatment)
        for record in subject.adverse_events:
            self.adverse_event(imported, record)
        if not refused:
            self.final_status(imported)
            self.result.counts["patients"] += 1
        return imported

    def _build(self, model, record, **extra):
        instance = model(**extra)
        for column, field_name in IMPORTED[record.group.table].items():
            if column in record.values:
                value = record.values[column]
                if value is None:
                    model_field = model._meta.get_field(field_name)
                    value = "" if model_field.empty_strings_allowed and not model_field.null else None
                setattr(instance, field_name, value)
        return instance

    def patient(self, subject, site):
        record = subject.patient
        values = record.values
        final = values.get("status") or PatientStatus.ON_STUDY
        patient = self._build(Patient, record, subject_id=subject.key, site=site, active_myopathy=True,
                              ctd_associated=False)
        patient.status = PatientStatus.SCREENING if final == PatientStatus.SCREENING else PatientStatus.ON_STUDY
        if final == PatientStatus.WITHDRAWN:  # set at the end, after the treatment records
            patient.withdrawal_date, patient.withdrawal_reason = None, ""
        age, enrolment = values.get("age"), values.get("enrolment_date")
        exclude = []
        if age is None:
            self.error(record.item_path("age"), "The age at enrolment is needed to derive the year of birth.",
                       record.line)
            exclude.append("birth_year")
        elif enrolment is not None:
            patient.birth_year = birth_year_for(age, enrolment)
        else:
            exclude.append("birth_year")  # the missing enrolment date is the error
        if site is None:
            exclude.append("site")  # the site's error is noted
        elsewhere = {"subject_id": subject.path}
        if not exclude:
            if self.save(patient, record, elsewhere):
                return patient, False
            return self._stand_in(patient)
        try:  # not saved, but every other rule checked
            patient.full_clean(exclude=exclude)
        except ValidationError as exc:
            self.rule_errors(exc, record, model=Patient, elsewhere=elsewhere)
        return None, False

    def _stand_in(self, patient):
        """A patient the rules refused, stored anyway (in a savepoint) only so that the subject's
        other records can still be checked against the rules. Its errors are noted, so the whole
        import is rolled back: it never outlives this transaction. None if the database refuses it."""
        try:
            with transaction.atomic():
                patient.save()
        except DatabaseError:
            return None, False
        return patient, True

    def cycle(self, imported, cycle_record):
        patient = imported.patient
        if cycle_record.cycle is None or cycle_record.cycle.bad:
            return
        cycle = self._build(TreatmentCycle, cycle_record.cycle, patient=patient, number=cycle_record.number)
        assessment = None
        if cycle_record.assessment is not None:
            assessment = self._build(Assessment, cycle_record.assessment, patient=patient)
            assessment.cycle = cycle
        infusions = {}
        for day, record in sorted(cycle_record.infusions.items()):
            infusions[day] = self._build(Infusion, record, day=day)
            infusions[day].cycle = cycle
        # Every part checked first, so one bad part does not hide the others' errors.
        ok = not any(record is not None and record.bad for record in
                     [cycle_record.assessment, *cycle_record.infusions.values()])
        checks = [(cycle, cycle_record.cycle, [])]
        if assessment is not None:
            ok &= self._timepoint(cycle_record.assessment, AssessmentTimepoint.PRE_CYCLE)
            checks.append((assessment, cycle_record.assessment, ["cycle"]))
        checks += [(infusions[day], cycle_record.infusions[day], ["cycle"]) for day in infusions]
        for instance, record, exclude in checks:
            if record.bad:
                continue
            try:
                instance.full_clean(exclude=exclude)
            except ValidationError as exc:
                self.rule_errors(exc, record, model=type(instance))
                ok = False
        if not ok:
            return
        parts = {"cycle": (cycle, cycle_record.cycle), "assessment": (assessment, cycle_record.assessment),
                 **{f"day{day}": (infusions[day], cycle_record.infusions[day]) for day in infusions}}
        try:
            cycle_save(parts=CycleParts(cycle=cycle, assessment=assessment, infusions=infusions), user=self.user)
        except CyclePartError as exc:
            instance, record = parts[exc.part]
            self.rule_errors(exc.error, record, model=type(instance))
            return
        imported.cycles[cycle_record.number] = (cycle, infusions, cycle_record)
        self.result.counts["cycles"] += 1
        self.result.counts["assessments"] += assessment is not None
        self.result.counts["infusions"] += len(infusions)

    def _timepoint(self, record, expected):
        given = record.values.get("timepoint")
        if given is not None and given != expected:
            where = "the end-of-treatment event" if expected == AssessmentTimepoint.END_OF_TREATMENT else "a cycle"
            self.error(record.item_path("timepoint"), f"An assessment in {where} has the timepoint "
                                                      f"{expected.value!r}, not {given!r}.", record.line)
            return False
        return True

    def end_of_treatment(self, imported, record):
        if not self._timepoint(record, AssessmentTimepoint.END_OF_TREATMENT):
            return
        assessment = self._build(Assessment, record, patient=imported.patient, cycle=None)
        assessment.timepoint = AssessmentTimepoint.END_OF_TREATMENT
        if self.save(assessment, record):
            self.result.counts["assessments"] += 1

    def adverse_event(self, imported, record):
        if record.bad:
            return
        event = self._build(AdverseEvent, record, patient=imported.patient)
        number, day = record.values.get("cycle"), record.values.get("day")
        if (number is None) != (day is None):
            self.error(record.item_path("cycle" if number is None else "day"),
                       "The linked infusion needs both its cycle and its day.", record.line)
            return
        if number is not None:
            if number not in imported.cycles:
                if number not in imported.subject.cycles:
                    self.error(record.item_path("cycle"), f"There is no cycle {number} for this subject.",
                               record.line)
                return  # the cycle itself was refused: its errors say why
            infusion = imported.cycles[number][1].get(day)
            if infusion is None:
                self.error(record.item_path("day"), f"Cycle {number} has no infusion on day {day}.", record.line)
                return
            event.infusion = infusion
        if self.save(event, record):
            self.result.counts["adverse_events"] += 1
            if record.values.get("reviewed_at") and event.serious:
                self.warning(record.path, f"The source reviewed this serious event at "
                                          f"{record.values['reviewed_at']:%Y-%m-%d %H:%M}; the review is not "
                                          f"imported: the event awaits expedited review here.", record.line)

    def final_status(self, imported):
        patient, record = imported.patient, imported.subject.patient
        final = record.values.get("status")
        if final == PatientStatus.COMPLETED:
            patient.status = PatientStatus.COMPLETED
        elif final == PatientStatus.WITHDRAWN:
            patient.status = PatientStatus.WITHDRAWN
            patient.withdrawal_date = record.values.get("withdrawal_date")
            patient.withdrawal_reason = record.values.get("withdrawal_reason") or ""
        else:
            return
        if not self.save(patient, record):
            return
        if final == PatientStatus.WITHDRAWN:  # the treatment must end by the withdrawal date
            for cycle, infusions, cycle_record in imported.cycles.values():
                checks = [(cycle, cycle_record.cycle)] + [(infusions[d], cycle_record.infusions[d]) for d in infusions]
                for instance, part in checks:
                    try:
                        instance.full_clean()
                    except ValidationError as exc:
                        self.rule_errors(exc, part, model=type(instance))


def _messages(exc):
    """[(field name, [messages])] of a ValidationError."""
    if hasattr(exc, "error_dict"):
        return [(name, ValidationError(errors).messages) for name, errors in exc.error_dict.items()]
    return [(NON_FIELD_ERRORS, exc.messages)]


class _import_audit:  # noqa: N801 - used as a context manager
    def __init__(self, user, reason):
        self.value = (user, reason)

    def __enter__(self):
        self.token = _IMPORT_AUDIT.set(self.value)

    def __exit__(self, *exc_info):
        _IMPORT_AUDIT.reset(self.token)


# --- after import: derived values, deviations ------------------------------------------------------------

def _same(file_value, computed):
    if file_value is None:
        return True  # not in the file: nothing to compare
    if isinstance(computed, Decimal) or isinstance(file_value, Decimal):
        try:
            return computed is not None and Decimal(str(file_value)) == Decimal(str(computed))
        except InvalidOperation:
            return False
    if hasattr(computed, "value"):  # an Enum
        computed = computed.value
    return file_value == computed


def _verify(imported, writer):
    """Compare the file's derived items with the rows the export computes from the imported data."""
    by_subject = {i.subject.key: i for i in imported}
    patients = Patient.objects.filter(pk__in=[i.patient.pk for i in imported])
    malignancy_rows = {}
    for group in (odm.PATIENT, odm.DIAGNOSIS, odm.MALIGNANCIES, odm.CYCLE, odm.ASSESSMENT, odm.INFUSIONS):
        for row in group.definition.rows(patients):
            done = by_subject[row["subject_id"]]
            if group is odm.MALIGNANCIES:
                malignancy_rows.setdefault(row["subject_id"], []).append(row)
                continue
            record = _record_of(group, done, row)
            if record is not None:
                _compare(writer, group, record, row, done)
    for subject, rows in malignancy_rows.items():
        done = by_subject[subject]
        ordered = sorted(done.malignancies, key=lambda m: (m[0].diagnosis_date, m[0].pk))
        for (_malignancy, record), row in zip(ordered, rows):
            _compare(writer, odm.MALIGNANCIES, record, row, done)
    _compare_deviations(imported, patients, writer)


def _record_of(group, done, row):
    subject = done.subject
    if group is odm.PATIENT:
        return subject.patient
    if group is odm.DIAGNOSIS:
        return subject.diagnosis
    if group is odm.ASSESSMENT and row["cycle"] is None:
        return subject.end_of_treatment
    cycle = done.cycles.get(row["cycle"])
    if cycle is None:
        return None
    if group is odm.CYCLE:
        return cycle[2].cycle
    if group is odm.ASSESSMENT:
        return cycle[2].assessment
    return cycle[2].infusions.get(row["day"])


def _compare(writer, group, record, row, done):
    for column in VERIFIED.get(group.table, ()):
        file_value = record.values.get(column)
        if column not in record.values or _same(file_value, row[column]):
            continue
        computed = datasets.as_text(row[column].value if hasattr(row[column], "value") else row[column])
        message = (f"The file gives {datasets.as_text(file_value)!r}; the rules compute {computed or '(none)'!r} "
                   f"from the imported data.")
        if group is odm.DIAGNOSIS and column == "age_at_onset":
            done.age_at_onset_differs = True
            writer.warning(record.item_path(column), message + " With the age at enrolment alone (the year of "
                           "birth is derived from it) the age at onset can differ by a year from the source's, "
                           "which may have had a full date of birth.", record.line)
        elif group is odm.DIAGNOSIS and column in AGE_AT_ONSET_DEPENDENT and done.age_at_onset_differs:
            writer.warning(record.item_path(column), message + " It depends on the age at onset, which differs.",
                           record.line)
        else:
            writer.error(record.item_path(column), message, record.line)


def _compare_deviations(imported, patients, writer):
    """The open deviations the rules recomputed against the file's unresolved ones, per cycle."""
    found = {}
    for row in datasets.deviation_rows(patients):
        if row["resolved_at"] is None:
            found.setdefault((row["subject_id"], row["cycle"]), set()).add((row["kind"], row["day"]))
    for done in imported:
        for number, (_cycle, _infusions, cycle_record) in done.cycles.items():
            listed = {(r.values.get("kind"), r.values.get("day") or 0) for r in cycle_record.deviations
                      if r.values.get("resolved_at") is None and not r.bad}
            recomputed = found.get((done.subject.key, number), set())
            if listed != recomputed:
                writer.warning(cycle_record.path, f"Protocol deviations: the file lists {_kinds(listed)}; the "
                                                  f"rules found {_kinds(recomputed)} in the imported data "
                                                  f"(the rules' are kept).", cycle_record.line)
    writer.result.counts["deviations"] = ProtocolDeviation.objects.current().filter(patient__in=patients).count()


def _kinds(pairs):
    if not pairs:
        return "none"
    return ", ".join(f"{kind} (day {day})" if day else f"{kind}" for kind, day in sorted(pairs))


# --- the import ---------------------------------------------------------------------------------------

class _Rollback(Exception):
    pass


class _PathSet:
    """Element paths, sorted once: whether any is at or under a given path in log time (the paths
    under one are a contiguous run from where it would be inserted), not a scan of every path."""

    def __init__(self, paths):
        self.paths = sorted(set(paths))

    def any_within(self, path):
        at = bisect.bisect_left(self.paths, path)
        return at < len(self.paths) and self.paths[at].startswith(path)


def _source_name(source):
    if isinstance(source, (str, Path)):
        return Path(source).name
    name = getattr(source, "name", None)
    return Path(name).name if isinstance(name, str) else "(stream)"


def import_odm(source, *, user=None, dry_run=False) -> ImportResult:
    """Import the subjects of an ODM 1.3.2 file (a path, bytes or a binary file object).

    Everything or nothing: :class:`OdmImportError` (nothing imported) lists every problem found;
    ``dry_run`` checks everything, then rolls back. Returns the counts and the warnings."""
    name = _source_name(source)
    reason = REASON.format(name=name)
    tree = _parse_file(source)
    paths = ElementPaths()
    errors = _markup_errors(tree, paths) or _schema_errors(tree, paths)
    if errors:
        raise OdmImportError(errors)
    reader = _Reader(paths)
    subjects, locations = reader.read(tree.getroot())
    result = ImportResult(source=name, dry_run=dry_run)
    if not subjects and not reader.errors:
        result.warnings.append(ImportIssue("/ODM", "The file holds no subject data: nothing to import."))
    writer = _Writer(user=user, reason=reason, locations=locations, result=result)
    try:
        with transaction.atomic(), _import_audit(user, reason):
            imported = [done for done in map(writer.subject, subjects.values()) if done is not None]
            # Derived values are compared for the subjects imported without a problem only: a refused
            # record would make its neighbours' derived values differ too.
            troubled = _PathSet(e.path for e in reader.errors + writer.errors)
            clean = [done for done in imported if not troubled.any_within(done.subject.path)]
            if clean:
                _verify(clean, writer)
            errors = reader.errors + writer.errors
            if errors or dry_run:
                raise _Rollback
    except _Rollback:
        pass
    if errors:
        raise OdmImportError(sorted(errors, key=lambda e: e.line or 0))
    result.warnings.sort(key=lambda w: w.line or 0)
    return result
