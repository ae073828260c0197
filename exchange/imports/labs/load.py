"""Matching the rows to assessments, the dry run's diff, and the commit through the services.

:func:`dry_run` reads the database in a fixed number of queries whatever the row count
(the user's roles, the subjects' patients, their assessments with their cycles and the
last cycle's start, the signatures in force) and gives a :class:`Plan`: each row new
(a value filled where the assessment had none), changed (old -> new, per field) or
unchanged, or its errors with the row number and the column.

:func:`commit` runs the same plan again inside one transaction and, if it is the plan the
user confirmed (its :attr:`Plan.digest`) and has no error, saves each changed assessment
through ``visits.services.assessment_save`` (``record_save``: model rules, lock chain,
the user's role at the site, optimistic version, history row with the reason and the
user, review invalidation) with the version the dry run read; then ``verify``. Any error
anywhere: everything is rolled back and :class:`LabImportError` lists the errors.

Decisions:

- A row is matched to the patient's assessment on that date (pre-cycle or end of
  treatment). A row with no assessment of that subject on that date is an error on the
  date column: a laboratory file gives results, not visits; creating an assessment needs
  its cycle (weight, infusions) or the end-of-treatment visit, which the forms enter. So
  a wrong date in the file never creates a stray visit.
- An empty cell changes nothing (the stored value stays): a laboratory's file lists what
  it measured, and a value is cleared on the form, with its reason, not by a blank.
- Two rows for one assessment: both are errors (which one holds would be a guess).
- A voided assessment, a locked cycle or casebook, a subject outside the user's sites
  (told apart from an unknown subject only for users who may see every site, so a site
  user learns nothing of other sites), a role that may not change assessments at the
  patient's site: errors on the row.
- A signed cycle or casebook is not an error: as on the form, the change is allowed and
  invalidates the signature (``review.services.after_change``, with the reason); the dry
  run warns on each such row so the user knows before committing.
- The rules are the model's: the dry run applies the row's values to the stored assessment
  and runs its field validation and ``Assessment.clean()`` (``visits.rules``), the checks
  ``record_save`` runs, without its per-row queries (the lock state comes from the rows
  read in bulk); the commit runs ``record_save`` itself, so a rule can never pass the dry
  run and be skipped at commit.
"""

import hashlib
import json
from dataclasses import dataclass, field

from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.db import transaction
from django.utils.text import capfirst
from django.utils.translation import gettext as _

from accounts.scoping import access_for, may, scope_to_user_sites
from core.services import StaleRecordError
from core.validation import validate_free_text
from patients.models import Patient
from visits.models import Assessment
from visits.services import assessment_save

from .parse import DATE, FIELDS, KEY_LABELS, LAB_FIELDS, SUBJECT, CellError, parse_date, parse_decimal

PERMISSION = "visits.change_assessment"

NEW, CHANGED, UNCHANGED, ERROR = "new", "changed", "unchanged", "error"


def field_label(name):
    if name in KEY_LABELS:
        return KEY_LABELS[name]
    return Assessment._meta.get_field(name).verbose_name


class MappingError(Exception):
    """The column mapping is not usable: ``errors`` maps a field (or ``"__all__"``) to messages."""

    def __init__(self, errors):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))


def check_mapping(mapping, headers):
    """``{field: header}``: the subject id and date mapped, at least one lab value, each header once."""
    errors = {}
    unknown_fields = set(mapping) - set(FIELDS)
    if unknown_fields:
        errors[NON_FIELD_ERRORS] = [_("Unknown fields: %(names)s.") % {"names": ", ".join(sorted(unknown_fields))}]
    for name in (SUBJECT, DATE):
        if not mapping.get(name):
            errors[name] = [_("Choose the column of the %(field)s.") % {"field": field_label(name)}]
    used = {}
    for name, header in mapping.items():
        if not header:
            continue
        if header not in headers:
            errors.setdefault(name, []).append(_("The file has no column %(header)r.") % {"header": header})
        elif header in used:
            errors.setdefault(name, []).append(
                _("The column %(header)r is already mapped to the %(field)s.")
                % {"header": header, "field": field_label(used[header])})
        else:
            used[header] = name
    if not any(mapping.get(name) for name in LAB_FIELDS):
        errors.setdefault(NON_FIELD_ERRORS, []).append(_("Map at least one laboratory value."))
    if errors:
        raise MappingError(errors)
    return {name: header for name, header in mapping.items() if header}


@dataclass
class RowIssue:
    row: int
    column: str
    message: str

    def __str__(self):
        return _("Row %(row)s, column %(column)s: %(message)s") % {
            "row": self.row, "column": self.column, "message": self.message}


@dataclass
class FieldChange:
    field: str
    column: str
    old: object
    new: object

    @property
    def kind(self):
        return NEW if self.old is None else CHANGED

    @property
    def label(self):
        return capfirst(field_label(self.field))


@dataclass
class PlannedRow:
    row: int
    subject: str
    date: object = None
    assessment_pk: int = None
    version: int = None
    cycle_number: int = None  # None: the end-of-treatment visit
    changes: list = field(default_factory=list)  # FieldChange
    unchanged: list = field(default_factory=list)  # field names
    issues: list = field(default_factory=list)  # RowIssue
    warnings: list = field(default_factory=list)  # str
    instance: object = field(default=None, repr=False)  # the assessment with the row's values applied

    @property
    def status(self):
        if self.issues:
            return ERROR
        if any(change.kind == CHANGED for change in self.changes):
            return CHANGED
        return NEW if self.changes else UNCHANGED


@dataclass
class Plan:
    name: str
    sha256: str
    mapping: dict
    rows: list = field(default_factory=list)
    extra_errors: list = field(default_factory=list)  # RowIssue found at commit (not on a planned row)
    committed: bool = False

    @property
    def errors(self):
        return [issue for row in self.rows for issue in row.issues] + self.extra_errors

    @property
    def warnings(self):
        return [(row.row, warning) for row in self.rows for warning in row.warnings]

    @property
    def to_write(self):
        return [row for row in self.rows if row.changes and not row.issues]

    def counts(self):
        counts = dict.fromkeys((NEW, CHANGED, UNCHANGED, ERROR), 0)
        for row in self.rows:
            counts[row.status] += 1
        return counts

    @property
    def digest(self):
        """What a commit must find again: the file, the mapping and every write (assessment,
        the version read, each field's old and new value)."""
        payload = {
            "file": self.sha256,
            "mapping": sorted(self.mapping.items()),
            "writes": [[row.row, row.assessment_pk, row.version,
                        [[c.field, str(c.old), str(c.new)] for c in row.changes]] for row in self.to_write],
            "errors": len(self.errors),
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()

    def summary(self):
        counts = self.counts()
        return _("%(new)s new, %(changed)s changed, %(unchanged)s unchanged, %(error)s with errors") % counts


class LabImportError(Exception):
    """Nothing was stored: ``plan.errors`` says why (``changed``: the data moved since the dry run
    that was confirmed; the new plan is ``plan``)."""

    def __init__(self, plan, *, changed=False):
        self.plan, self.changed = plan, changed
        super().__init__(_("The data changed since the dry run: nothing was stored.") if changed
                         else _("%(n)s error(s): nothing was stored.") % {"n": len(plan.errors)})


# --- the dry run --------------------------------------------------------------------------------


def dry_run(table, mapping, *, user) -> Plan:
    """The plan of ``table`` under ``mapping`` for ``user``: reads only, in a fixed number of queries."""
    mapping = check_mapping(mapping, table.headers)
    plan = Plan(name=table.name, sha256=table.sha256, mapping=mapping)
    index = {header: position for position, header in enumerate(table.headers)}
    lab_fields = [name for name in LAB_FIELDS if name in mapping]
    parsed = []
    for number, cells in table.rows:
        row = PlannedRow(row=number, subject=cells[index[mapping[SUBJECT]]].strip())
        values = {}
        if not row.subject:
            row.issues.append(RowIssue(number, mapping[SUBJECT], _("No subject id.")))
        try:
            row.date = parse_date(cells[index[mapping[DATE]]])
            if row.date is None:
                row.issues.append(RowIssue(number, mapping[DATE], _("No date.")))
        except CellError as exc:
            row.issues.append(RowIssue(number, mapping[DATE], str(exc)))
        for name in lab_fields:
            try:
                values[name] = parse_decimal(cells[index[mapping[name]]])
            except CellError as exc:
                row.issues.append(RowIssue(number, mapping[name], str(exc)))
        plan.rows.append(row)
        parsed.append((row, values))

    subjects = {row.subject for row, _values in parsed if row.subject}
    patients = {p.subject_id: p for p in scope_to_user_sites(Patient.objects.filter(subject_id__in=subjects), user)}
    assessments = {}
    for assessment in (Assessment.objects.filter(patient__in=[p.pk for p in patients.values()])
                       .select_related("cycle__patient", "patient").with_last_cycle_start().order_by("pk")):
        assessments.setdefault((assessment.patient_id, assessment.assessment_date), []).append(assessment)
    signed = _signed(patients.values())
    study_wide = access_for(user).study_wide

    first_row_of = {}
    for row, values in parsed:
        if row.issues or not row.subject or row.date is None:
            continue
        patient = patients.get(row.subject)
        if patient is None:
            message = (_("There is no subject %(subject)s.") if study_wide
                       else _("There is no subject %(subject)s among the patients of your sites."))
            row.issues.append(RowIssue(row.row, mapping[SUBJECT], message % {"subject": row.subject}))
            continue
        if not may(user, PERMISSION, site_id=patient.site_id):
            row.issues.append(RowIssue(row.row, mapping[SUBJECT], _(
                "Your roles at the site of %(subject)s do not allow changing assessments.")
                % {"subject": row.subject}))
            continue
        found = assessments.get((patient.pk, row.date), [])
        current = [a for a in found if a.voided_at is None]
        where = {"subject": row.subject, "date": row.date.isoformat()}
        if not current:
            message = (_("The assessment of %(subject)s on %(date)s is voided.") if found
                       else _("There is no assessment of %(subject)s on %(date)s (the import does not create "
                              "assessments: enter the visit first, or correct the date)."))
            row.issues.append(RowIssue(row.row, mapping[DATE], message % where))
            continue
        if len(current) > 1:
            row.issues.append(RowIssue(row.row, mapping[DATE], _(
                "%(subject)s has %(n)s assessments on %(date)s: enter these values on the form.")
                % {**where, "n": len(current)}))
            continue
        assessment = current[0]
        row.assessment_pk, row.version = assessment.pk, assessment.version
        row.cycle_number = assessment.cycle.number if assessment.cycle_id else None
        first = first_row_of.setdefault(assessment.pk, row)
        if first is not row:
            for one, other in ((row, first), (first, row)):
                one.issues.append(RowIssue(one.row, mapping[DATE], _(
                    "Row %(other)s is for the same assessment (%(subject)s on %(date)s): keep one row.")
                    % {**where, "other": other.row}))
            continue
        locked = [parent for parent in assessment.review_parents() if parent.locked_at is not None]
        if locked:
            row.issues.append(RowIssue(row.row, mapping[SUBJECT], _(
                "The %(what)s is locked: no change is possible until an administrator unlocks it.")
                % {"what": _lock_name(locked[0])}))
            continue
        for name in lab_fields:
            new = values[name]
            if new is None:
                continue  # an empty cell changes nothing
            old = getattr(assessment, name)
            if old is not None and old == new:
                row.unchanged.append(name)
            else:
                row.changes.append(FieldChange(name, mapping[name], old, new))
                setattr(assessment, name, new)
        row.instance = assessment
        if row.changes:
            _validate(row, assessment, mapping)
            for what in _signatures_of(assessment, signed):
                row.warnings.append(_("Signed: the signature of the %(what)s will be invalidated by this "
                                      "change.") % {"what": what})
    return plan


def _lock_name(record):
    if isinstance(record, Patient):
        return _("casebook of %(subject)s") % {"subject": record.subject_id}
    return _("cycle %(number)s") % {"number": record.number}


def _signed(patients):
    """``{(content type id, object id)}`` of the signatures in force of these patients' records."""
    from django.contrib.contenttypes.models import ContentType

    from review.models import Signature

    ids = [p.pk for p in patients]
    if not ids:
        return set()
    ContentType.objects.get_for_models(Patient, Assessment)  # (cached for the rest of the process)
    return set(Signature.objects.filter(patient_id__in=ids).not_invalidated()
               .values_list("content_type_id", "object_id"))


def _signatures_of(assessment, signed):
    from django.contrib.contenttypes.models import ContentType

    for record in assessment.review_parents():
        if (ContentType.objects.get_for_model(record).pk, record.pk) in signed:
            yield _lock_name(record)


def _validate(row, assessment, mapping):
    """The model's checks of ``record_save`` on the assessment with the row's values: its fields'
    validation and ``clean()`` (``visits.rules``); the parents are read already (no query)."""
    try:
        assessment.clean_fields(exclude=list(assessment.PARENT_FIELDS))
        assessment.clean()
    except ValidationError as exc:
        _note(row, exc, mapping)


def _note(row, exc, mapping):
    """Each field's messages of a ValidationError on the column that field came from (or the
    field's label when it is not in the file)."""
    if hasattr(exc, "error_dict"):
        items = [(name, ValidationError(errors).messages) for name, errors in exc.error_dict.items()]
    else:
        items = [(NON_FIELD_ERRORS, exc.messages)]
    for name, messages in items:
        if name in mapping:
            column = mapping[name]
        elif name == NON_FIELD_ERRORS:
            column = mapping[SUBJECT]
        else:
            column = _("%(field)s (not in the file)") % {"field": capfirst(field_label(name))}
        row.issues.append(RowIssue(row.row, column, " ".join(messages)))


# --- the commit ---------------------------------------------------------------------------------


class _Rollback(Exception):
    pass


def commit(table, mapping, *, user, reason, expected_digest=None) -> Plan:
    """Store the plan of ``table`` (all or nothing), each change through
    ``visits.services.assessment_save`` with ``reason`` and ``user``.

    ``expected_digest``: the :attr:`Plan.digest` of the dry run the user confirmed; if the
    plan computed now differs, nothing is stored (:class:`LabImportError` with ``changed``).
    Raises ``ValidationError({"reason": ...})`` without a reason, :class:`MappingError`."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": [ValidationError(_("Give the reason for the change."), code="required")]})
    validate_free_text(reason, field="reason")
    from .verify import verify

    changed = False
    try:
        with transaction.atomic():
            # The patients' rows serialise this commit with the cycle saves and other imports.
            plan = dry_run(table, mapping, user=user)
            ids = sorted({row.instance.patient_id for row in plan.to_write})
            list(Patient.objects.select_for_update().filter(pk__in=ids).values_list("pk"))
            if expected_digest is not None and plan.digest != expected_digest:
                changed = True
                raise _Rollback
            if plan.errors:
                raise _Rollback
            for row in plan.to_write:
                _save(row, reason=reason, user=user, mapping=plan.mapping)
            if not plan.errors:
                verify(plan, reason=reason, user=user)
            if plan.errors:
                raise _Rollback
            plan.committed = True
    except _Rollback:
        pass
    if not plan.committed:
        raise LabImportError(plan, changed=changed)
    return plan


def _save(row, *, reason, user, mapping):
    assessment = row.instance
    try:
        assessment_save(assessment=assessment, reason=reason, expected_version=row.version, user=user)
    except ValidationError as exc:
        _note(row, exc, mapping)
    except StaleRecordError:
        row.issues.append(RowIssue(row.row, mapping[DATE], _(
            "The assessment of %(subject)s on %(date)s was changed by someone else during the import.")
            % {"subject": row.subject, "date": row.date.isoformat()}))
    except PermissionDenied as exc:
        row.issues.append(RowIssue(row.row, mapping[SUBJECT], str(exc)))
