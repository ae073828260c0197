"""After the load: the file's derived items against what the rules stored, and its deviations.

The derived items (disease duration, first infusion, Bohan & Peter certainty,
EULAR/ACR score and class, DM rash, age at onset, malignancy timing, planned
start, dosing weight, prescribed doses, MMT-8 total, rate per kg) are not
imported: the services derive them. :func:`verify` compares each with the row
the export writes from the imported data (``exchange.datasets``, the same rows);
a difference is an error. An age at onset that differs is a warning, not an
error (a source with a full date of birth can give an age at onset that no
year of birth reproduces), and so are the EULAR/ACR score and class of that
subject, which depend on it. Only subjects without any other problem are
compared (a refused cycle changes its neighbours' derived values).

Protocol deviations are not imported: ``cycle_save`` recomputes them. The
open deviations (kind, day) recomputed for each cycle are compared with the
file's unresolved IG.DEVIATIONS rows; a difference is a warning in the
result, not an error. Resolved deviations of the source are not recreated.
"""

from decimal import Decimal, InvalidOperation

from patients.models import Patient
from visits.models import ProtocolDeviation

from ... import datasets
from ...exports import odm

#: Derived columns: not imported; compared after import with what the rules compute.
DERIVED = {
    "patients": ("first_infusion_date", "disease_duration_months"),
    "diagnoses": ("dm_rash", "bohan_peter_certainty", "age_at_onset", "eular_acr_score", "eular_acr_class"),
    "malignancies": ("timing",),
    "cycles": ("planned_start_date", "dosing_weight_kg", "prescribed_daily_dose_g"),
    "assessments": ("mmt_total",),
    "infusions": ("prescribed_dose_g", "max_rate_ml_per_kg_min"),
    "medications": ("atc_name", "atc_class_code", "atc_class_name", "corticosteroid", "immunosuppressant",
                    "statin", "oestrogen", "started_during_study"),
}
#: Compared after import: the derived columns, and the age the year of birth was derived from.
VERIFIED = {**DERIVED, "patients": ("age", *DERIVED["patients"])}
#: An age at onset that differs makes these a warning too (they depend on it).
AGE_AT_ONSET_DEPENDENT = ("age_at_onset", "eular_acr_score", "eular_acr_class")


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


def verify(imported, writer):
    """Compare the file's derived items with the rows the export computes from the imported data.

    ``imported``: the loaded subjects (``load.LoadedSubject``); ``writer``: where the errors and
    warnings go (``error(path, message, line)``, ``warning(...)``, ``result``)."""
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
    for row in odm.MEDICATIONS.definition.rows(patients):
        record = by_subject[row["subject_id"]].medications.get(row["medication_id"])
        if record is not None:
            _compare(writer, odm.MEDICATIONS, record, row, by_subject[row["subject_id"]])
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
