"""Writes in the patients app: the records with their stored derived facts.

Every derived fact of a patient, a diagnosis or a malignancy (ages, disease
durations, the treatment dates, Bohan & Peter certainty, EULAR/ACR score and
class, malignancy timing) is computed by ``patients.rules`` and stored here,
with ``rules.RULES_VERSION``:

- ``patient_derive`` / ``diagnosis_derive`` / ``malignancy_derive`` set the
  stored facts of one row (the models' ``save()`` calls them, so no channel
  stores a row without its facts);
- ``patient_save`` / ``diagnosis_save`` / ``malignancy_save`` /
  ``malignancy_void`` / ``patient_withdraw`` are the writes, through
  ``core.services.record_save``; a patient's change re-derives its diagnosis
  and malignancies;
- ``patient_facts_refresh`` re-derives what depends on other apps' rows (the
  first and last infusion, the end-of-treatment visit): the visits services
  call it after their writes;
- ``derived_recompute`` (``manage.py recompute_derived``) re-derives every
  stored fact after a rules change.
"""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max, Min, Q

from core.derived import DerivedChange
from core.services import record_save, record_void

from . import rules
from .models import (
    DIAGNOSIS_FACTS, MALIGNANCY_FACTS, PATIENT_FACTS, Diagnosis, MalignancyHistory, Patient, StatusChangeError,
)

#: ``visits.AssessmentTimepoint.END_OF_TREATMENT`` (patients imports nothing from visits).
END_OF_TREATMENT = "end"


# --- Derivation: the rules applied to a row --------------------------------------------------

def _infusion_current():
    """Only current infusions count (when the visits app voids infusions)."""
    infusion = Patient._meta.get_field("cycles").related_model._meta.get_field("infusions").related_model
    if any(f.name == "voided_at" for f in infusion._meta.concrete_fields):
        return Q(cycles__infusions__voided_at__isnull=True)
    return Q()


def treatment_dates(patients) -> dict:
    """``pk -> (first infusion, last infusion, end-of-treatment visit)`` for a Patient
    queryset, in two queries (the visits app's rows, reached through the reverse
    relations)."""
    current = _infusion_current()
    dates = {pk: [first, last, None] for pk, first, last in (
        patients.order_by().values("pk")
        .annotate(first=Min("cycles__infusions__infusion_date", filter=current),
                  last=Max("cycles__infusions__infusion_date", filter=current))
        .values_list("pk", "first", "last"))}
    for pk, eot in (patients.order_by()
                    .filter(assessments__timepoint=END_OF_TREATMENT, assessments__voided_at__isnull=True)
                    .values_list("pk", "assessments__assessment_date")):
        dates.setdefault(pk, [None, None, None])[2] = eot
    return {pk: tuple(d) for pk, d in dates.items()}


def _patient_facts(patient, dates) -> dict:
    first, last, eot = dates
    return {**rules.patient_facts(
        birth_year=patient.birth_year, birth_date=patient.birth_date, enrolment_date=patient.enrolment_date,
        symptom_onset_date=patient.symptom_onset_date, first_infusion=first, last_infusion=last,
        end_of_treatment_visit=eot), "rules_version": rules.RULES_VERSION}


def _diagnosis_facts(diagnosis, age_at_onset) -> dict:
    return {**rules.diagnosis_facts(kind=diagnosis.kind, age_at_onset=age_at_onset,
                                    criteria={n: getattr(diagnosis, n) for n in rules.DIAGNOSIS_CRITERIA}),
            "rules_version": rules.RULES_VERSION}


def _malignancy_facts(malignancy, dates) -> dict:
    first, last, eot = dates
    end = rules.treatment_end(last_infusion=last, end_of_treatment_visit=eot)
    return {"timing": rules.malignancy_timing(malignancy.diagnosis_date, first, end).value,
            "rules_version": rules.RULES_VERSION}


def _dates_of(patient_id):
    if patient_id is None:
        return (None, None, None)
    return treatment_dates(Patient.objects.filter(pk=patient_id)).get(patient_id, (None, None, None))


def _differences(instance, facts) -> dict:
    """The facts whose stored value differs (``rules_version`` alone is no difference)."""
    return {name: value for name, value in facts.items()
            if name != "rules_version" and _normal(getattr(instance, name)) != _normal(value)}


def _normal(value):
    return getattr(value, "value", value)


def _apply(instance, facts):
    for name, value in facts.items():
        setattr(instance, name, _normal(value))


def patient_derive(patient, dates=None) -> dict:
    """Set the patient's stored facts from the rules; returns those that changed.
    ``dates``: (first infusion, last infusion, end-of-treatment visit), else read.
    The facts other apps derive from the patient's fields are set too (``before_save_register``)."""
    for derive in _BEFORE_SAVE:
        derive(patient)
    if patient.enrolment_date is None or patient.symptom_onset_date is None or not patient.birth_year:
        return {}  # an incomplete record: its validation errors say why; nothing to derive
    facts = _patient_facts(patient, dates if dates is not None else _dates_of(patient.pk))
    changed = _differences(patient, facts)
    _apply(patient, facts)
    return changed


def diagnosis_derive(diagnosis, age_at_onset=None) -> dict:
    """Set the diagnosis's stored facts (its patient's age at onset scores in EULAR/ACR)."""
    if not diagnosis.kind:
        return {}
    if age_at_onset is None and diagnosis.patient_id:
        patient = diagnosis.patient
        age_at_onset = rules.age_at(patient.symptom_onset_date, patient.birth_year, patient.birth_date)
    facts = _diagnosis_facts(diagnosis, age_at_onset)
    changed = _differences(diagnosis, facts)
    _apply(diagnosis, facts)
    return changed


def malignancy_derive(malignancy, dates=None) -> dict:
    """Set the malignancy's timing against its patient's treatment dates."""
    if malignancy.diagnosis_date is None:
        return {}
    facts = _malignancy_facts(malignancy, dates if dates is not None else _dates_of(malignancy.patient_id))
    changed = _differences(malignancy, facts)
    _apply(malignancy, facts)
    return changed


# --- Writes ----------------------------------------------------------------------------------

#: Run after every patient save, in its transaction: ``f(*, patient, reason, user)``. The
#: visits app registers the re-judging of the cycles a patient edit affects (a risk, its
#: date, the sex behind the ideal body weight): patients imports nothing from visits.
_AFTER_SAVE: list = []


def after_save_register(hook) -> None:
    if hook not in _AFTER_SAVE:
        _AFTER_SAVE.append(hook)


#: Run by :func:`patient_derive` (so by every ``Patient.save()``): ``f(patient)`` sets on the
#: instance the facts another app derives from the patient's fields (the visits app: the
#: next cycle's schedule).
_BEFORE_SAVE: list = []


def before_save_register(derive) -> None:
    if derive not in _BEFORE_SAVE:
        _BEFORE_SAVE.append(derive)


#: Run by :func:`patient_facts_refresh` once the patient's treatment dates are stored again:
#: ``f(*, patient, reason, user) -> list[DerivedChange]``. The medications app registers the
#: re-deriving of "started during the study" (patients imports nothing from medications).
_AFTER_REFRESH: list = []


def facts_refreshed_register(hook) -> None:
    if hook not in _AFTER_REFRESH:
        _AFTER_REFRESH.append(hook)


@transaction.atomic
def patient_save(*, patient: Patient, reason: str = "", expected_version=None, user=None) -> Patient:
    """Create or correct a patient. On a correction its diagnosis and malignancies
    follow (their facts read the patient's dates), and the apps that store facts
    derived from the patient (the visits app: the cycles a risk edit affects) bring
    them up to date, with the same reason. The facts other apps derive from the
    patient's own fields (the visits app: the next cycle's schedule, from the status
    and the enrolment date) are set by ``Patient.save()`` (:func:`patient_derive`),
    on the same history row."""
    creating = patient.pk is None
    record_save(instance=patient, reason=reason, expected_version=expected_version, user=user)
    if not creating:
        _dependants_refresh(patient, reason=reason, user=user)
        for hook in _AFTER_SAVE:
            hook(patient=patient, reason=reason, user=user)
    return patient


@transaction.atomic
def diagnosis_save(*, diagnosis: Diagnosis, reason: str = "", expected_version=None, user=None) -> Diagnosis:
    return record_save(instance=diagnosis, reason=reason, expected_version=expected_version, user=user)


@transaction.atomic
def malignancy_save(*, malignancy: MalignancyHistory, reason: str = "", expected_version=None,
                    user=None) -> MalignancyHistory:
    return record_save(instance=malignancy, reason=reason, expected_version=expected_version, user=user)


def malignancy_void(*, malignancy: MalignancyHistory, reason: str, expected_version) -> MalignancyHistory:
    return record_void(instance=malignancy, reason=reason, expected_version=expected_version)


@transaction.atomic
def patient_withdraw(*, patient: Patient, on, reason: str, expected_version: int, user=None) -> Patient:
    """Withdraw a patient (guarded status change); the reason goes to the audit trail."""
    try:
        patient.withdraw(on=on, reason=reason.strip())
    except StatusChangeError as exc:
        raise ValidationError(str(exc), code="transition_not_allowed") from exc
    return patient_save(patient=patient, reason=f"Withdrawn: {reason.strip()}",
                        expected_version=expected_version, user=user)


@transaction.atomic
def patient_facts_refresh(patient, *, reason: str, user=None) -> list[DerivedChange]:
    """Re-derive the facts of a patient that depend on other apps' rows (the
    infusions, the end-of-treatment visit) and of its diagnosis and malignancies;
    write those that changed, each with a history row carrying ``reason``.

    The visits services call this after every write that can move the first or
    last infusion or the end-of-treatment visit."""
    patient_id = patient if isinstance(patient, int) else patient.pk
    stored = Patient.objects.get(pk=patient_id)
    changes = _refresh(stored, _dates_of(patient_id), reason=reason, user=user, apply=True)
    for hook in _AFTER_REFRESH:
        changes += hook(patient=patient_id, reason=reason, user=user)
    return changes


def patient_derived_store(patient: Patient, *, facts: dict, reason: str, user=None) -> Patient:
    """Store facts another app's rules derived for the patient (the visits app: the
    next cycle's schedule), as this app stores its own: only those columns, a
    history row carrying ``reason``, no version bump, no signature invalidation;
    refused under a lock (``ValidationError``)."""
    version_field = next(name for name in facts if name.endswith("rules_version"))
    for name, value in facts.items():
        setattr(patient, name, value)
    _store(patient, [name for name in facts if name != version_field], reason=reason, user=user,
           version_field=version_field)
    return patient


def _dependants_refresh(patient, *, reason, user):
    _refresh(Patient.objects.get(pk=patient.pk), _dates_of(patient.pk), reason=reason, user=user, apply=True)


def _label(record):
    subject = record.subject_id if isinstance(record, Patient) else record.patient.subject_id
    return f"{record._meta.verbose_name.capitalize()} {record.pk} ({subject})"


def _refresh(patient, dates, *, reason, user, apply, diagnosis=..., malignancies=None) -> list[DerivedChange]:
    """Compare the stored facts of a patient (and of its diagnosis and malignancies)
    with what the rules derive now; with ``apply``, write the differences."""
    if diagnosis is ...:
        diagnosis = Diagnosis.objects.filter(patient=patient).first()
    if malignancies is None:
        malignancies = list(MalignancyHistory.objects.filter(patient=patient))
    changes = []
    work = [(patient, _patient_facts(patient, dates), PATIENT_FACTS)]
    age_at_onset = work[0][1]["age_at_onset"]
    if diagnosis is not None and diagnosis.kind:
        diagnosis.patient = patient
        work.append((diagnosis, _diagnosis_facts(diagnosis, age_at_onset), DIAGNOSIS_FACTS))
    for malignancy in malignancies:
        malignancy.patient = patient
        work.append((malignancy, _malignancy_facts(malignancy, dates), MALIGNANCY_FACTS))
    for record, facts, names in work:
        differences = _differences(record, facts)
        if not differences:
            continue
        old = {name: _normal(getattr(record, name)) for name in differences}
        written, refused = False, ""
        if apply:
            try:
                _store(record, names, reason=reason, user=user)
                written = True
            except ValidationError as exc:
                refused = "; ".join(exc.messages)
        for name, value in differences.items():
            changes.append(DerivedChange(record=_label(record), field=name, stored=old[name],
                                         derived=_normal(value), written=written, refused=refused))
    return changes


def _store(record, names, *, reason, user, version_field="rules_version"):
    """Write the derived facts of ``record`` (save() derives them: what the rules
    give now), with a history row carrying ``reason``; refused under a lock.

    Only the facts are written: no version bump (a derived fact is no edit of
    what was entered, so it does not make an editor's copy stale) and no
    signature invalidation (the facts are not signed: ``SIGNATURE_EXCLUDE``)."""
    with transaction.atomic():
        record.check_not_locked(for_update=True)
        record._change_reason = reason
        if user is not None:
            record._history_user = user
        record.save(update_fields=[*names, version_field])


def derived_recompute(*, apply: bool, reason: str, user=None) -> list[DerivedChange]:
    """Every patient's stored facts (and its diagnosis's and malignancies') against
    what the rules derive now: the differences, written with ``apply`` (history
    row with ``reason``; a locked casebook is reported, not written)."""
    patients = Patient.objects.order_by("subject_id")
    dates = treatment_dates(Patient.objects.all())
    diagnoses = {d.patient_id: d for d in Diagnosis.objects.all()}
    malignancies = {}
    for m in MalignancyHistory.objects.order_by("diagnosis_date", "pk"):
        malignancies.setdefault(m.patient_id, []).append(m)
    changes = []
    for patient in patients.iterator(chunk_size=2000):
        with transaction.atomic():
            changes += _refresh(patient, dates.get(patient.pk, (None, None, None)), reason=reason, user=user,
                                apply=apply, diagnosis=diagnoses.get(patient.pk),
                                malignancies=malignancies.get(patient.pk, []))
    return changes
