"""Loading parsed subjects: every record written through the services the forms and the API use.

Patients, diagnoses, malignancies, the end-of-treatment assessment and adverse
events go through ``core.services.record_save`` (``Model.full_clean``, lock
check, history row); a cycle with its assessment and infusions is built by
``visits.services.cycle_parts_build`` and stored by ``visits.services.cycle_save``
(the same builder and service as the record-cycle page and the API, so the
same data gives the same stored facts and deviations). The model's field
errors are reported on the matching ItemData.

:func:`import_odm` runs it all or nothing: one transaction; as many problems as
can be found are collected (``parse``, then here, then ``verify``), then
everything is rolled back and :class:`OdmImportError` lists them; a dry run
checks everything and rolls back too.

- A subject that already exists is refused (the import only adds subjects).
- A patient record the rules refuse is stored anyway for the rest of the
  check (it never outlives the transaction, which is rolled back), so the
  subject's other records are checked too; a patient the database itself
  refuses (a check constraint) leaves the subject's other records unchecked.

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
- Adverse events: ``ae_id`` (the ItemGroupRepeatKey) is the source's key; the
  event gets a new id here. ``entered_at`` and ``reviewed_at`` are system
  fields of the source: not imported (a serious event reviewed in the source
  is flagged as awaiting review again, with a warning). Nor is the source's
  SAE clock (``aware_at``, ``report_due_at``, ``reported_late``): it ran
  against the source's entry, which is not imported; here the import is the
  entry and the awareness defaults to it (``safety.services``). The linked infusion
  is found from the items ``cycle`` and ``day``.
- Coded adverse events: the event is coded with the term of the file's LLT code in
  the file's dictionary (``coding_dictionary``) when it is loaded here, else with
  the dictionary entry ``coding.selectors.term_by_llt_code`` finds (a warning
  names the dictionary used); with no dictionary holding the code, the event is
  imported uncoded, with a warning. The term's names and the PT and SOC are the
  dictionary's here (``safety.services.coded_refresh``); a name that differs from
  the file's is a warning.
- Concomitant medications: ``medication_id`` (the ItemGroupRepeatKey) is the
  source's key; written after the cycles through ``medications.services.medication_save``
  (the ATC name, class and flags, and "started during the study" against the
  imported first infusion, are derived here and compared with the file's).
- An item the file leaves out takes the model's default, as a new form would
  (empty text, no value, ``false``).
- Audit trail: every history row written carries the importing user (none:
  system) and the reason ``Imported from ODM file <name>``, passed explicitly:
  ``record_save(reason=...)`` for each record (a creation keeps its reason),
  ``CycleParts.creation_reason`` for the records ``cycle_save`` creates (the
  parts and the deviations they open), ``_change_reason`` on a created site.
  No signal receiver. The source's AuditRecords are not replayed: the
  history here starts with the import.
"""

import bisect
import re
from dataclasses import dataclass, field
from pathlib import Path

from django.core.exceptions import NON_FIELD_ERRORS, FieldDoesNotExist, PermissionDenied, ValidationError
from django.db import DatabaseError, transaction
from django.utils.text import capfirst
from django.utils.translation import gettext as _

from accounts.models import Site
from coding.models import MeddraTerm
from coding.selectors import term_by_llt_code
from core import missing
from core.services import record_save
from patients import rules as patient_rules
from patients.models import Diagnosis, MalignancyHistory, Patient, PatientStatus
from medications.models import ConcomitantMedication
from medications.services import medication_save
from safety.models import AdverseEvent
from safety.services import adverse_event_save
from visits.models import Assessment, AssessmentTimepoint, Infusion, TreatmentCycle
from visits.services import CyclePartError, assessment_save, CyclePartsInvalid, cycle_parts_build, cycle_save

from ... import datasets
from ...exports import odm
from .parse import ImportIssue, OdmImportError, SubjectRecord, parse
from .verify import verify

REASON = "Imported from ODM file {name}"

#: Columns read into model fields: table -> {column: model field}.
IMPORTED = {
    "patients": {name: name for name in (
        "sex", "race", "consent_date", "enrolment_date", "symptom_onset_date", "steroid_contraindication",
        "renal_risk", "renal_risk_since", "thrombotic_risk", "thrombotic_risk_since", "suspected_cause",
        "suspected_cause_detail", "status",
        "withdrawal_date", "withdrawal_reason")},
    "diagnoses": {"diagnosis": "kind", "diagnosis_date": "diagnosis_date",
                  **{name: name for name, _label in datasets.DIAGNOSIS_FLAGS}},
    "malignancies": {"malignancy": "malignancy_type", "diagnosis_date": "diagnosis_date", "status": "status",
                     "certainty": "certainty"},
    "cycles": {name: name for name in ("start_date", "weight_kg", "height_cm", "dosing_basis")},
    "assessments": {name: name for name in (
        "timepoint", "assessment_date", "mmt_scale", *(c.name for c in datasets.GRADE_COLUMNS),
        "mmt_total_reported", *(c.name for c in datasets.LAB_COLUMNS), *(c.name for c in datasets.SCORE_COLUMNS))},
    "infusions": {name: name for name in (
        "infusion_date", "start_time", "end_time", "product", "lot", "concentration_pct", "volume_ml",
        "dose_g", "max_rate_ml_per_h")},
    "adverse_events": {name: name for name in (
        "term", "onset_date", "end_date", "grade", "serious", *datasets.AE_CRITERIA, "relatedness",
        "action_taken", "outcome")},
    "deviations": {},
    "medications": {name: name for name in (
        "drug_name", "atc_code", "indication", "dose", "dose_unit", "route", "frequency", "start_date", "end_date",
        "ongoing")},
}
#: Columns read with their own logic: the site, the age (-> year of birth), the linked infusion.
SPECIAL = {"patients": ("site", "age"), "adverse_events": ("cycle", "day", "meddra_llt_code", "coding_dictionary")}
#: The coded term's names, PT and SOC: the dictionary's here (from the LLT code); compared, as warnings.
CODED_NAMES = {"meddra_llt": "meddra_llt_name", "meddra_pt": "meddra_pt_name", "meddra_pt_code": "meddra_pt_code",
               "meddra_soc": "meddra_soc_name", "meddra_soc_code": "meddra_soc_code"}
SPECIAL["adverse_events"] += tuple(CODED_NAMES)
#: The missing-data code columns (``<field>_missing``, core.missing): read together into the
#: record's ``missing_codes``.
MISSING_COLUMNS = {t.name: tuple(c.name for c in t.columns if c.name.endswith(missing.COLUMN_SUFFIX))
                   for t in datasets.TABLES}
for _table, _names in MISSING_COLUMNS.items():
    if _names:
        SPECIAL[_table] = SPECIAL.get(_table, ()) + _names
#: Columns of the source system that are not imported nor compared (deviations are recomputed;
#: their kind and day are compared, as warnings).
NOT_IMPORTED = {
    "adverse_events": ("entered_at", "aware_at", "report_due_at", "reported_late", "reviewed_at"),
    "deviations": ("day", "kind", "description", "detected_at", "resolved_at", "resolution"),
}
#: Model fields reported on an item that is not their own column.
FIELD_ITEMS = {"patients": {"birth_year": "age", "birth_date": "age", "site": "site"},
               "adverse_events": {"infusion": "cycle"}}
#: The model of each part of a cycle (``visits.services.CYCLE_PARTS``).
PART_MODELS = {"cycle": TreatmentCycle, "assessment": Assessment, "day1": Infusion, "day2": Infusion}
LOCATION_OID = re.compile(r"^LOC\.(?P<code>.+)$")


COUNTED = ("patients", "diagnoses", "malignancies", "cycles", "assessments", "infusions", "adverse_events",
           "deviations", "medications")


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



def birth_year_for(age, enrolment_date):
    """The year of birth that gives ``age`` on ``enrolment_date`` under the mid-year imputation of
    ``patients.rules.age_at``: enrolment year - age, minus one before 1 July."""
    for year in (enrolment_date.year - age, enrolment_date.year - age - 1):
        if patient_rules.age_at(enrolment_date, year) == age:
            return year
    return None  # pragma: no cover - one of the two always matches



@dataclass
class LoadedSubject:
    """What one subject became: for the checks after the load (``verify``)."""

    subject: SubjectRecord
    patient: Patient
    malignancies: list = field(default_factory=list)  # (MalignancyHistory, GroupRecord)
    cycles: dict = field(default_factory=dict)  # number -> (TreatmentCycle, {day: Infusion}, CycleRecord)
    medications: dict = field(default_factory=dict)  # pk -> GroupRecord
    refused: bool = False  # the patient broke a rule: checking the other records only
    age_at_onset_differs: bool = False


class Loader:
    """Writes the parsed subjects through the services, noting every refusal on its item."""

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
            elif isinstance(instance, ConcomitantMedication):  # its service derives the ATC facts
                medication_save(medication=instance, reason=self.reason, user=self.user)
            elif isinstance(instance, Assessment) and instance.cycle_id is None:
                assessment_save(assessment=instance, reason=self.reason, user=self.user)
            else:
                record_save(instance=instance, reason=self.reason, user=self.user)
        except ValidationError as exc:
            self.rule_errors(exc, record, model=type(instance), elsewhere=elsewhere)
            return False
        except PermissionDenied:
            self.rule_errors(ValidationError(
                _("%(user)s holds no role that may enter a %(record)s at this site.")
                % {"user": self.user, "record": instance._meta.verbose_name},
                code="permission_denied"), record, model=type(instance), elsewhere=elsewhere)
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
        """Import one subject; its ``LoadedSubject``, or None when refused (the errors say why)."""
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
        imported = LoadedSubject(subject, patient, refused=refused)
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
        for record in subject.medications:  # after the cycles: "started during the study" needs them
            self.medication(imported, record)
        if not refused:
            self.final_status(imported)
            self.result.counts["patients"] += 1
        return imported

    @staticmethod
    def _values(model, record):
        """The record's imported columns as the model's field values (an item the file leaves out
        takes the model's default, as on a new form; an empty one: empty text, or no value)."""
        values = {}
        for column, field_name in IMPORTED[record.group.table].items():
            if column in record.values:
                value = record.values[column]
                if value is None:
                    model_field = model._meta.get_field(field_name)
                    value = "" if model_field.empty_strings_allowed and not model_field.null else None
                values[field_name] = value
        names = MISSING_COLUMNS.get(record.group.table)
        if names:
            values["missing_codes"] = {name.removesuffix(missing.COLUMN_SUFFIX): record.values[name]
                                       for name in names if record.values.get(name)}
        return values

    def _build(self, model, record, **extra):
        return model(**extra, **self._values(model, record))

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
        patient._change_reason = self.reason  # (rolled back with the import in any case)
        try:
            with transaction.atomic():
                patient.save()
        except DatabaseError:
            return None, False
        return patient, True

    def cycle(self, imported, cycle_record):
        """A cycle with its assessment and infusions: built and checked by the cycle builder (as the
        form and the API), stored by ``cycle_save`` (which derives the deviations)."""
        if cycle_record.cycle is None or cycle_record.cycle.bad:
            return
        records = {"cycle": cycle_record.cycle, "assessment": cycle_record.assessment,
                   **{f"day{day}": record for day, record in cycle_record.infusions.items()}}
        # Every part checked, so one bad part does not hide the others' errors.
        ok = not any(record is not None and record.bad for record in records.values())
        assessment_data = None
        if cycle_record.assessment is not None:
            ok &= self._timepoint(cycle_record.assessment, AssessmentTimepoint.PRE_CYCLE)
            if not cycle_record.assessment.bad:
                assessment_data = self._values(Assessment, cycle_record.assessment)
                assessment_data.pop("timepoint", None)  # the builder's: pre-cycle
        try:
            parts = cycle_parts_build(
                patient=imported.patient, number=cycle_record.number,
                cycle_data=self._values(TreatmentCycle, cycle_record.cycle), assessment_data=assessment_data,
                infusions_data={day: None if record.bad else self._values(Infusion, record)
                                for day, record in cycle_record.infusions.items()})
        except CyclePartsInvalid as exc:
            for part, error in exc.errors.items():
                self.rule_errors(error, records[part], model=PART_MODELS[part])
            return
        if not ok:
            return
        parts.creation_reason = self.reason
        try:
            cycle_save(parts=parts, reason=self.reason, user=self.user)
        except CyclePartError as exc:
            self.rule_errors(exc.error, records[exc.part], model=PART_MODELS[exc.part])
            return
        imported.cycles[cycle_record.number] = (parts.cycle, parts.infusions, cycle_record)
        self.result.counts["cycles"] += 1
        self.result.counts["assessments"] += parts.assessment is not None
        self.result.counts["infusions"] += len(parts.infusions)

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
        if self.save(assessment, record):  # (visits.services.assessment_save: it ends the treatment)
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
        self._code(event, record)
        if self.save(event, record):
            self._coded_names(event, record)
            self.result.counts["adverse_events"] += 1
            if record.values.get("reviewed_at") and event.serious:
                self.warning(record.path, f"The source reviewed this serious event at "
                                          f"{record.values['reviewed_at']:%Y-%m-%d %H:%M}; the review is not "
                                          f"imported: the event awaits expedited review here.", record.line)

    def _code(self, event, record):
        """The dictionary term of the file's LLT code: in the file's dictionary if loaded here,
        else the one ``term_by_llt_code`` finds (a warning); none: imported uncoded (a warning)."""
        code, source = record.values.get("meddra_llt_code"), record.values.get("coding_dictionary")
        if not code:
            return
        term = (MeddraTerm.objects.current().filter(source=source, llt_code=code).first() if source else None)
        if term is None:
            term = term_by_llt_code(code)
            if term is None:
                self.warning(record.item_path("meddra_llt_code"),
                             f"No dictionary loaded here holds the LLT code {code} ({source or 'no dictionary named'}):"
                             f" the event is imported uncoded, to be coded here.", record.line)
                return
            self.warning(record.item_path("coding_dictionary"),
                         f"{source or 'No dictionary'} is not loaded here: LLT {code} is coded with "
                         f"{term.source}.", record.line)
        event.coded_term = term

    def _coded_names(self, event, record):
        for column, field_name in CODED_NAMES.items():
            given, stored = record.values.get(column), getattr(event, field_name)
            if event.coded_term_id and given and given != stored:
                self.warning(record.item_path(column), f"The file gives {given!r}; the dictionary here has "
                                                       f"{stored!r} (kept).", record.line)

    def medication(self, imported, record):
        if record.bad:
            return
        medication = self._build(ConcomitantMedication, record, patient=imported.patient)
        if self.save(medication, record):
            imported.medications[medication.pk] = record
            self.result.counts["medications"] += 1

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
    parsed = parse(source)
    result = ImportResult(source=name, dry_run=dry_run)
    if not parsed.subjects and not parsed.errors:
        result.warnings.append(ImportIssue("/ODM", "The file holds no subject data: nothing to import."))
    loader = Loader(user=user, reason=REASON.format(name=name), locations=parsed.locations, result=result)
    try:
        with transaction.atomic():
            loaded = [done for done in map(loader.subject, parsed.subjects.values()) if done is not None]
            # Derived values are compared for the subjects imported without a problem only: a refused
            # record would make its neighbours' derived values differ too.
            troubled = _PathSet(e.path for e in parsed.errors + loader.errors)
            clean = [done for done in loaded if not troubled.any_within(done.subject.path)]
            if clean:
                verify(clean, loader)
            errors = parsed.errors + loader.errors
            if errors or dry_run:
                raise _Rollback
    except _Rollback:
        pass
    if errors:
        raise OdmImportError(sorted(errors, key=lambda e: e.line or 0))
    result.warnings.sort(key=lambda w: w.line or 0)
    return result
