"""Writes that span the records of a treatment cycle, in one transaction.

The derived facts of a cycle and of its infusions (dosing weight, prescribed
dose, window, the risk in force, dose difference, rate per kg and their
judgements) are computed by ``rules.derive_cycle`` / ``rules.derive_infusion``
and stored on the rows here, on every write, with ``rules.RULES_VERSION``. An
edit re-derives only what it can affect: the cycle written and its infusions,
the next cycle when the start date moved, and, after a patient edit
(:func:`patient_cycles_rejudge`), the cycles whose facts change.
"""

from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import OperationalError, transaction
from django.db.models import Max
from django.utils import timezone

from accounts.languages import neutral
from core.derived import DerivedChange
from core.services import connection_lost, record_save, record_void
from patients.models import Patient, PatientStatus
from patients.services import patient_derived_store, patient_facts_refresh

from . import rules
from .models import Assessment, AssessmentTimepoint, Infusion, MissedCycle, ProtocolDeviation, TreatmentCycle

#: The parts of the record-cycle page (and of a cycle in the API and the ODM import).
CYCLE_PARTS = ("cycle", "assessment", "day1", "day2")


class CyclePartError(Exception):
    """A rule refused one part of the cycle (``part``: cycle, assessment, day1, day2)."""

    def __init__(self, part, error: ValidationError):
        self.part = part
        self.error = error
        super().__init__(f"{part}: {error}")


class CyclePartsInvalid(Exception):
    """The rules refused parts of a cycle: ``errors`` maps each part (cycle,
    assessment, day1, day2) to the model's ``ValidationError``, so every channel
    shows each error on its own part's fields."""

    def __init__(self, errors: dict):
        self.errors = errors
        super().__init__("; ".join(f"{part}: {error}" for part, error in errors.items()))


@dataclass
class CycleParts:
    """The records entered on the record-cycle page; ``None`` means not entered
    (or not changed, on an edit).

    ``creation_reason``: the reason kept on the history rows of the records this
    save creates (the new parts and the deviations they open). Entry by hand
    leaves it empty (a first entry needs none); an import names its source.
    """

    cycle: TreatmentCycle
    assessment: object = None
    infusions: dict = field(default_factory=dict)  # day -> Infusion or None
    expected_versions: dict = field(default_factory=dict)  # part -> version the editor saw
    creation_reason: str = ""


def next_cycle_number(patient) -> int:
    top = TreatmentCycle.objects.filter(patient=patient).aggregate(top=Max("number"))["top"]
    return (top or 0) + 1


def cycle_parts_build(*, patient, cycle=None, number=None, cycle_data=None, assessment_data=None,
                      infusions_data=None, expected_versions=None) -> CycleParts:
    """The records of a cycle, built from validated plain data and checked
    against every model rule: the one builder of the form (``CycleEntry``), the
    API (``CycleSerializer``) and the ODM import, whose result ``cycle_save``
    stores.

    - ``cycle``: the stored cycle to edit, or None (or an unsaved cycle) for a
      new one of ``patient`` (``number``, or the unsaved cycle's: its number;
      none takes the next one, and ``cycle_save`` takes it again under the
      patient's lock).
    - ``cycle_data``: the cycle's field values (start date, weight...).
    - ``assessment_data``: the pre-treatment assessment's field values; None
      when not entered (or unchanged, on an edit).
    - ``infusions_data``: ``{day: field values or None}``, None as above.
    - ``expected_versions``: ``{part: version}`` the editor started from, for
      the stored parts it changes (and ``"cycle"`` to save the stored cycle).

    Every part present (given, or already stored under the cycle: the rules
    of its parts read the cycle's dates and weight) is checked with
    ``full_clean``, the cycle first; :class:`CyclePartsInvalid` collects the
    errors of every part at once. Nothing is written.
    """
    new = cycle is None or cycle.pk is None
    if cycle is None:
        cycle = TreatmentCycle(patient=patient)
    if new and number:
        cycle.number = number
    automatic_number = new and not cycle.number
    if automatic_number:
        cycle.number = next_cycle_number(patient)
    for name, value in (cycle_data or {}).items():
        setattr(cycle, name, value)
    parts = CycleParts(cycle=cycle, expected_versions=dict(expected_versions or {}))

    stored_assessment, stored_infusions = None, {}
    if not new:
        try:
            stored_assessment = cycle.assessment
        except Assessment.DoesNotExist:
            pass
        stored_infusions = {infusion.day: infusion for infusion in cycle.infusions.all()}
    present = {"cycle": cycle}
    assessment = stored_assessment
    if assessment_data is not None:
        assessment = stored_assessment or Assessment(patient=patient, timepoint=AssessmentTimepoint.PRE_CYCLE)
        for name, value in assessment_data.items():
            setattr(assessment, name, value)
        parts.assessment = assessment
    if assessment is not None:
        assessment.cycle = cycle
        present["assessment"] = assessment
    for day in (1, 2):
        infusion = stored_infusions.get(day)
        data = (infusions_data or {}).get(day)
        if data is not None:
            infusion = infusion or Infusion(day=day)
            for name, value in data.items():
                setattr(infusion, name, value)
            parts.infusions[day] = infusion
        if infusion is not None:
            infusion.cycle = cycle
            present[f"day{day}"] = infusion

    errors = {}
    for part, instance in present.items():
        try:  # a new cycle has no key yet: its parts are checked without the link
            instance.full_clean(exclude=["cycle"] if new and part != "cycle" else None)
        except ValidationError as exc:
            # Django's constraint checks (Q.check) report a database error as "violated":
            # a lost connection is not the user's error (as record_save).
            if connection_lost():
                raise OperationalError("The database connection was lost during validation.") from exc
            errors[part] = exc
    if errors:
        raise CyclePartsInvalid(errors)
    if automatic_number:
        cycle.number = None
    return parts


@transaction.atomic
def cycle_save(*, parts: CycleParts, reason: str = "", user=None) -> list:
    """Save a cycle with its assessment and infusions: all or nothing.

    Each record goes through ``record_save`` (model rules, version check,
    history row with the reason); afterwards the cycle's protocol deviations
    (and the next cycle's window) are recomputed. Returns the cycle's open
    deviations.
    """
    cycle = parts.cycle
    # Serialise writers of one patient's cycles (numbering, neighbours' windows).
    list(Patient.objects.select_for_update().filter(pk=cycle.patient_id).values_list("pk"))
    is_new = cycle.pk is None
    if is_new and not cycle.number:
        cycle.number = next_cycle_number(cycle.patient)
    stored_start = (None if is_new else
                    TreatmentCycle.objects.filter(pk=cycle.pk).values_list("start_date", flat=True).first())
    saving_cycle = is_new or parts.expected_versions.get("cycle") is not None
    if saving_cycle:
        _apply(cycle, cycle_derive(cycle))  # stored with the cycle's own history row

    def save(part, instance):
        creating = instance.pk is None
        try:
            record_save(instance=instance, reason=parts.creation_reason if creating else reason,
                        expected_version=None if creating else parts.expected_versions.get(part),
                        user=user)
        except ValidationError as exc:  # (record_save turns a lost connection into OperationalError)
            raise CyclePartError(part, exc) from exc

    if saving_cycle:
        save("cycle", cycle)
    if parts.assessment is not None:
        parts.assessment.cycle = cycle
        parts.assessment.patient_id = cycle.patient_id
        save("assessment", parts.assessment)
    for day in sorted(parts.infusions):
        infusion = parts.infusions[day]
        if infusion is not None:
            infusion.cycle = cycle
            _apply(infusion, infusion_derive(infusion, cycle))
            save(f"day{day}", infusion)

    why = reason or "Cycle entered"
    deviations = deviations_refresh(cycle=cycle, reason=why, user=user, creation_reason=parts.creation_reason)
    if is_new or stored_start != cycle.start_date:
        # Only the next cycle's planned date and window depend on this cycle (its start date).
        following = (TreatmentCycle.objects.filter(patient_id=cycle.patient_id, number__gt=cycle.number)
                     .select_related("patient").order_by("number").first())
        if following is not None:
            try:  # its visit window follows this cycle's date; a lock of that cycle refuses the change
                deviations_refresh(cycle=following, reason=why, user=user)
            except ValidationError as exc:
                raise CyclePartError("cycle", exc) from exc
    patient_facts_refresh(cycle.patient_id, reason=why, user=user)  # first/last infusion, malignancy timing
    patient_schedule_refresh(patient_id=cycle.patient_id, reason=why, user=user)
    return deviations



@transaction.atomic
def assessment_save(*, assessment: Assessment, reason: str = "", expected_version=None, user=None) -> Assessment:
    """Create or correct an assessment outside a cycle entry (the end-of-treatment
    visit; a pre-treatment assessment comes with its cycle through :func:`cycle_save`),
    on every channel: the form, the API, the ODM import, the demo. The
    end-of-treatment visit ends the treatment, so the patient's facts that depend on
    it (the end of treatment, malignancy timing) follow, with the same reason."""
    record_save(instance=assessment, reason=reason, expected_version=expected_version, user=user)
    patient_facts_refresh(assessment.patient_id, reason=reason or "End-of-treatment visit entered", user=user)
    return assessment


@transaction.atomic
def missed_cycle_save(*, missed: MissedCycle, reason: str = "", expected_version=None, user=None) -> MissedCycle:
    """Record (or correct) a missed cycle, on every channel (the form, the API): the
    model's rules (``rules.missed_cycle_violations``), the lock chain and history with
    the reason (``record_save``); then the patient's next cycle, planned one cycle
    interval after the latest missed planned date when it is later than the last day 1
    (``rules.next_cycle``), is stored on the patient with the same reason."""
    list(Patient.objects.select_for_update().filter(pk=missed.patient_id).values_list("pk"))
    record_save(instance=missed, reason=reason, expected_version=expected_version, user=user)
    patient_schedule_refresh(patient_id=missed.patient_id, reason=reason or "Missed cycle recorded", user=user)
    return missed


@transaction.atomic
def missed_cycle_void(*, missed: MissedCycle, reason: str, expected_version, user=None) -> MissedCycle:
    """Void a missed cycle entered in error (it stays, struck through); the schedule
    goes back to what the remaining records give."""
    list(Patient.objects.select_for_update().filter(pk=missed.patient_id).values_list("pk"))
    record_void(instance=missed, reason=reason, expected_version=expected_version, user=user)
    patient_schedule_refresh(patient_id=missed.patient_id, reason=f"Voided: {missed.void_reason}", user=user)
    return missed


# --- derived facts -----------------------------------------------------------

def previous_start_of(cycle):
    return (TreatmentCycle.objects.filter(patient_id=cycle.patient_id, number__lt=cycle.number)
            .order_by("-number").values_list("start_date", flat=True).first())


def cycle_derive(cycle, *, previous_start=..., patient=None) -> rules.CycleDerived:
    """The cycle's derived facts from its inputs, the previous cycle's start (read when
    not given) and the patient's sex and risks (``patient``: as stored, or as being saved)."""
    if previous_start is ...:
        previous_start = previous_start_of(cycle)
    patient = patient or cycle.patient
    return rules.derive_cycle(
        start_date=cycle.start_date, previous_start=previous_start, weight_kg=cycle.weight_kg,
        height_cm=cycle.height_cm, dosing_basis=cycle.dosing_basis, sex=patient.sex,
        renal_risk=patient.renal_risk, renal_risk_since=patient.renal_risk_since,
        thrombotic_risk=patient.thrombotic_risk, thrombotic_risk_since=patient.thrombotic_risk_since)


def patient_schedule_derive(patient, *, last_start=..., last_missed=...) -> rules.NextCycle:
    """The next cycle's schedule of ``patient`` (as stored, or as being saved), from its
    last cycle's start and its latest current missed cycle's planned date (read when
    not given)."""
    if last_start is ...:
        last_start = (TreatmentCycle.objects.filter(patient_id=patient.pk).aggregate(last=Max("start_date"))["last"]
                      if patient.pk else None)
    if last_missed is ...:
        last_missed = (MissedCycle.objects.current().filter(patient_id=patient.pk)
                       .aggregate(last=Max("planned_date"))["last"] if patient.pk else None)
    return rules.next_cycle(on_study=patient.status == PatientStatus.ON_STUDY, last_start=last_start,
                            enrolment_date=patient.enrolment_date, last_missed_planned=last_missed)


def patient_schedule_apply(patient) -> None:
    """Set the next cycle's schedule on a patient being saved (its status and enrolment
    date may have changed): registered with ``patients.services.before_save_register``
    in ``VisitsConfig.ready``, so it goes on the patient's own history row."""
    _apply(patient, patient_schedule_derive(patient))


def patient_schedule_refresh(*, patient_id: int, reason: str, user=None) -> dict:
    """Store the next cycle's planned date and window on the patient (``rules.next_cycle``)
    when they differ, with a history row carrying the reason: called by ``cycle_save``
    (a cycle's start date moves the next one). Returns ``{field: (stored, derived)}``."""
    stored = Patient.objects.get(pk=patient_id)
    derived = patient_schedule_derive(stored)
    changed = _differences(stored, derived)
    if changed:
        patient_derived_store(stored, facts=vars(derived), user=user, reason=reason)
    return changed


def infusion_derive(infusion, cycle) -> rules.InfusionDerived:
    """The infusion's derived facts, from its inputs and its cycle's (stored or just derived) facts."""
    return rules.derive_infusion(
        day=infusion.day, dose_g=infusion.dose_g, max_rate_ml_per_h=infusion.max_rate_ml_per_h,
        weight_kg=cycle.weight_kg, prescribed_daily_dose_g=cycle.prescribed_daily_dose_g, at_risk=cycle.at_risk)


def _differences(instance, derived) -> dict:
    """field -> (stored, derived) of the derived facts that differ (the version only
    counts when a fact differs: an unchanged fact is not rewritten for a new version)."""
    changed = {name: (getattr(instance, name), value) for name, value in vars(derived).items()
               if not name.endswith("rules_version") and getattr(instance, name) != value}
    return changed


def _apply(instance, derived) -> dict:
    """Set the derived facts on ``instance`` (in memory); return what changed."""
    changed = _differences(instance, derived)
    for name, value in vars(derived).items():
        setattr(instance, name, value)
    return changed


def _facts_refresh(*, cycle, reason, user, infusions=None, previous_start=...) -> list:
    """Re-derive the cycle's and its infusions' facts; write the rows whose facts
    changed (history row with the reason). Returns the infusions as stored now."""
    why = f"Derived facts recomputed: {reason}"
    if _apply(cycle, cycle_derive(cycle, previous_start=previous_start)):
        record_save(instance=cycle, reason=why, user=user)
    if infusions is None:
        infusions = list(Infusion.objects.filter(cycle=cycle))
    for infusion in infusions:
        infusion.cycle = cycle
        if _apply(infusion, infusion_derive(infusion, cycle)):
            record_save(instance=infusion, reason=why, user=user)
    return infusions


def patient_cycles_rejudge(*, patient, reason, user=None) -> list:
    """After a patient edit (sex, a risk or its date): re-judge the cycles whose
    derived facts change, and only those: each such cycle and its infusions get a
    history row with the reason, and its deviation log is brought in line. Called by
    ``patients.services.patient_save`` (registered in ``VisitsConfig.ready``).
    Returns the cycles re-judged."""
    cycles = list(TreatmentCycle.objects.filter(patient_id=patient.pk).order_by("number")
                  .prefetch_related("infusions"))
    rejudged, previous_start = [], None
    for cycle in cycles:
        cycle.patient = patient
        derived = cycle_derive(cycle, previous_start=previous_start, patient=patient)
        infusions = list(cycle.infusions.all())
        changed = bool(_differences(cycle, derived))
        if not changed:
            changed = any(_differences(i, rules.derive_infusion(
                day=i.day, dose_g=i.dose_g, max_rate_ml_per_h=i.max_rate_ml_per_h, weight_kg=cycle.weight_kg,
                prescribed_daily_dose_g=derived.prescribed_daily_dose_g, at_risk=derived.at_risk))
                for i in infusions)
        if changed:
            deviations_refresh(cycle=cycle, reason=reason, user=user, _infusions=infusions,
                               _previous_start=previous_start)
            rejudged.append(cycle)
        previous_start = cycle.start_date
    return rejudged


def cycle_rule_deviations(cycle, infusions, previous_start) -> list:
    """The deviations the rules find in the cycle, judged on its stored facts (the
    dosing weight, the risk in force on its start date)."""
    return rules.cycle_deviations(
        start=cycle.start_date, previous_start=previous_start, weight_kg=cycle.weight_kg,
        dosing_weight=cycle.dosing_weight_kg, at_risk=cycle.at_risk,
        infusions=[rules.InfusionFacts(i.day, i.infusion_date, i.dose_g, i.max_rate_ml_per_h) for i in infusions])


def deviations_refresh(*, cycle: TreatmentCycle, reason: str, user=None, creation_reason: str = "",
                       _infusions=None, _previous_start=...) -> list:
    """Bring the cycle's derived facts and deviation log in line with its data.

    The cycle's and its infusions' facts are re-derived and the changed rows
    written (history row with the reason). Then the deviations, by INSERTs
    only: new causes open a deviation; a cause that a correction removed
    resolves its deviation; a cause whose description changed is re-described.
    Both are a new row following the open one (the table is append-only, see
    ``ProtocolDeviation``): nothing is updated or deleted. The descriptions are
    written in the source language (``accounts.languages.neutral``), so a save in
    French never re-describes an open deviation; screens translate them
    (``ProtocolDeviation.description_text``).
    """
    previous_start = previous_start_of(cycle) if _previous_start is ... else _previous_start
    infusions = _facts_refresh(cycle=cycle, reason=reason, user=user, infusions=_infusions,
                               previous_start=previous_start)
    # The descriptions are stored (and compared with the stored ones): the source language,
    # whatever the language of the person saving (``rules.Deviation.description`` is English by
    # construction; ``neutral`` keeps any formatting the rules do in it too).
    with neutral():
        found = {(d.kind.value, d.day): d for d in cycle_rule_deviations(cycle, infusions, previous_start)}
    # The end of each cause's chain: its open row, or the resolved row a recurrence follows.
    last = {(d.kind, d.day): d for d in ProtocolDeviation.objects.filter(cycle=cycle, successor__isnull=True)}
    for key, deviation in last.items():
        if not deviation.is_open:
            continue
        if key not in found:
            _follow(deviation, user=user, reason=f"Resolved by a correction: {reason}",
                    resolved_at=timezone.now(), resolution=reason)
        elif deviation.description != found[key].description:
            _follow(deviation, user=user, reason=f"Recomputed after a correction: {reason}",
                    description=found[key].description)
    for key, rule_deviation in found.items():
        if key not in last or not last[key].is_open:
            record_save(user=user, reason=creation_reason, instance=ProtocolDeviation(
                patient_id=cycle.patient_id, cycle=cycle, kind=rule_deviation.kind.value,
                day=rule_deviation.day, description=rule_deviation.description, predecessor=last.get(key)))
    return list(ProtocolDeviation.objects.filter(cycle=cycle).open().order_by("day", "kind"))


def _follow(deviation, *, user, reason, **changes):
    """The row that supersedes the open ``deviation``: its copy with ``changes``,
    the next version, the same detection time (INSERT; the old row is kept as is)."""
    values = {name: getattr(deviation, name) for name in (
        "patient_id", "cycle_id", "day", "kind", "description", "detected_at", "resolved_at", "resolution")}
    values.update(changes)
    return record_save(user=user, reason=reason, instance=ProtocolDeviation(
        predecessor=deviation, version=deviation.version + 1, **values))


# --- recompute (manage.py recompute_derived) -----------------------------------

def _label(cycle, infusion=None):
    where = f"{cycle.patient.subject_id} cycle {cycle.number}"
    return f"Infusion {infusion.pk} ({where} day {infusion.day})" if infusion else f"Cycle {cycle.pk} ({where})"


def _deviation_keys(deviations):
    return sorted((d.kind if isinstance(d.kind, str) else d.kind.value, d.day, d.description) for d in deviations)


def derived_recompute(*, apply: bool, reason: str, user=None) -> list:
    """Compare every stored cycle and infusion fact, and every cycle's open
    deviations, with what the rules derive now (``core.derived`` protocol).

    Dry run (``apply`` False): the differences, nothing written. With
    ``apply``: each cycle that differs goes through :func:`deviations_refresh`
    (the facts written with a history row carrying ``reason``, the deviation
    log brought in line); a cycle under a lock is not written and is reported.
    Reads in a constant number of queries (cycles with their patient, their
    infusions, the open deviations)."""
    changes = []
    cycles = (TreatmentCycle.objects.select_related("patient").order_by("patient_id", "number")
              .prefetch_related("infusions"))
    open_rows = {}
    for row in ProtocolDeviation.objects.open().order_by():
        open_rows.setdefault(row.cycle_id, []).append(row)
    patient_id = previous_start = None
    for cycle in cycles.iterator(chunk_size=1000):
        if cycle.patient_id != patient_id:
            patient_id, previous_start = cycle.patient_id, None
        before = previous_start
        derived = cycle_derive(cycle, previous_start=before)
        found = [(name, stored, value, _label(cycle)) for name, (stored, value) in _differences(cycle, derived).items()]
        infusions = list(cycle.infusions.all())
        for infusion in infusions:
            facts = rules.derive_infusion(
                day=infusion.day, dose_g=infusion.dose_g, max_rate_ml_per_h=infusion.max_rate_ml_per_h,
                weight_kg=cycle.weight_kg, prescribed_daily_dose_g=derived.prescribed_daily_dose_g,
                at_risk=derived.at_risk)
            found += [(name, stored, value, _label(cycle, infusion))
                      for name, (stored, value) in _differences(infusion, facts).items()]
        preview = TreatmentCycle(**{f.attname: getattr(cycle, f.attname) for f in cycle._meta.concrete_fields})
        for name, value in vars(derived).items():
            setattr(preview, name, value)
        stored_deviations = _deviation_keys(open_rows.get(cycle.pk, []))
        derived_deviations = _deviation_keys(cycle_rule_deviations(preview, infusions, before))
        if stored_deviations != derived_deviations:
            found.append(("open deviations", [k[:2] for k in stored_deviations],
                          [k[:2] for k in derived_deviations], _label(cycle)))
        previous_start = cycle.start_date
        if not found:
            continue
        written, refused = False, ""
        if apply:
            if cycle.is_locked or cycle.patient.is_locked:
                refused = "locked"
            else:
                try:
                    with transaction.atomic():
                        deviations_refresh(cycle=cycle, reason=reason, user=user, _infusions=infusions,
                                           _previous_start=before)
                    written = True
                except ValidationError as exc:  # e.g. locked meanwhile
                    refused = "; ".join(exc.messages)
        changes += [DerivedChange(record=label, field=name, stored=stored, derived=value, written=written,
                                  refused=refused) for name, stored, value, label in found]
    return changes + schedules_recompute(apply=apply, reason=reason, user=user)


def schedules_recompute(*, apply: bool, reason: str, user=None) -> list:
    """Every patient's stored next-cycle schedule against ``rules.next_cycle`` now
    (part of :func:`derived_recompute`): the differences, written with ``apply``
    (history row with ``reason``; a locked casebook is reported, not written)."""
    last_starts = dict(TreatmentCycle.objects.order_by().values("patient_id")
                       .annotate(last=Max("start_date")).values_list("patient_id", "last"))
    last_missed = dict(MissedCycle.objects.current().order_by().values("patient_id")
                       .annotate(last=Max("planned_date")).values_list("patient_id", "last"))
    changes = []
    for patient in Patient.objects.order_by("subject_id").iterator(chunk_size=2000):
        derived = patient_schedule_derive(patient, last_start=last_starts.get(patient.pk),
                                          last_missed=last_missed.get(patient.pk))
        differences = _differences(patient, derived)
        if not differences:
            continue
        written, refused = False, ""
        if apply:
            try:
                with transaction.atomic():
                    patient_derived_store(patient, facts=vars(derived), reason=reason, user=user)
                written = True
            except ValidationError as exc:
                refused = "; ".join(exc.messages)
        changes += [DerivedChange(record=f"Patient {patient.pk} ({patient.subject_id})", field=name, stored=stored,
                                  derived=value, written=written, refused=refused)
                    for name, (stored, value) in differences.items()]
    return changes
