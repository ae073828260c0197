"""Reading an ODM file: XML, schema, OIDs, keys and value types -> plain records (no database).

:func:`parse` reads a file written by ``exchange.exports.odm`` (or any file that uses the same
OIDs) into :class:`SubjectRecord` dataclasses, collecting every problem as an
:class:`ImportIssue` with the path of the element it is about, e.g.::

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
   ``exchange/schemas/odm-1.3.2``); if not, nothing else is checked
   (:class:`OdmImportError` at once);
2. every OID is ours: ClinicalData StudyOID and MetaDataVersionOID, and each
   StudyEventOID, FormOID (in its event), ItemGroupOID (in its form) and
   ItemOID (in its item group) of the export's metadata
   (``exchange.exports.odm.EVENTS`` / ``GROUPS``); repeat keys are present
   where the design repeats and unique; only inserts (no TransactionType, or
   ``Insert``);
3. every value has its item's data type (integer, float, ISO date, time,
   datetime, boolean ``true``/``false``/``1``/``0``) and, for coded items,
   is in the code list.

Nothing here reads or writes the database: ``load`` does, through the services.
"""

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from io import BytesIO
from pathlib import Path

from lxml import etree

from ... import datasets
from ...exports import odm

SCHEMA_PATH = Path(datasets.__file__).resolve().parent / "schemas" / "odm-1.3.2" / "ODM1-3-2.xsd"
NS = {"odm": odm.ODM_NAMESPACE}

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
# ASCII digits only: ``\d``, int(), Decimal() and date parsing read other scripts' digits too.
ISO_DATE = re.compile(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
INTEGER = re.compile(r"\A[+-]?[0-9]+\Z")
BOOLEANS = {"true": True, "1": True, "false": False, "0": False}


# --- errors ---------------------------------------------------------------------------------------

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
    medications: list = field(default_factory=list)
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
        elif group is odm.MEDICATIONS:
            subject.medications += records
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


@dataclass
class ParsedFile:
    """What :func:`parse` made of a schema-valid file: the subjects by key, the AdminData
    Locations (OID -> Name), and the problems found (the subjects with one are still returned, so
    the load can check the rest of their records)."""

    subjects: dict
    locations: dict
    errors: list
    paths: ElementPaths


def parse(source) -> ParsedFile:
    """Read an ODM 1.3.2 file (a path, bytes or a binary file object). :class:`OdmImportError` at
    once when it is not XML, holds forbidden markup or is not schema-valid; otherwise the records
    with the OID, key and type errors found."""
    tree = _parse_file(source)
    paths = ElementPaths()
    errors = _markup_errors(tree, paths) or _schema_errors(tree, paths)
    if errors:
        raise OdmImportError(errors)
    reader = _Reader(paths)
    subjects, locations = reader.read(tree.getroot())
    return ParsedFile(subjects=subjects, locations=locations, errors=reader.errors, paths=paths)
