"""Writes that span the records of a treatment cycle, in one transaction."""

from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from core.services import record_save
from patients.models import Patient
from patients.services import patient_facts_refresh

from . import rules
from .models import Assessment, AssessmentTimepoint, Infusion, ProtocolDeviation, TreatmentCycle

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

    def save(part, instance):
        creating = instance.pk is None
        try:
            record_save(instance=instance, reason=parts.creation_reason if creating else reason,
                        expected_version=None if creating else parts.expected_versions.get(part),
                        user=user)
        except ValidationError as exc:  # (record_save turns a lost connection into OperationalError)
            raise CyclePartError(part, exc) from exc

    if is_new or parts.expected_versions.get("cycle") is not None:
        save("cycle", cycle)
    if parts.assessment is not None:
        parts.assessment.cycle = cycle
        parts.assessment.patient_id = cycle.patient_id
        save("assessment", parts.assessment)
    for day in sorted(parts.infusions):
        infusion = parts.infusions[day]
        if infusion is not None:
            infusion.cycle = cycle
            save(f"day{day}", infusion)

    why = reason or "Cycle entered"
    deviations = deviations_refresh(cycle=cycle, reason=why, user=user, creation_reason=parts.creation_reason)
    following = (TreatmentCycle.objects.filter(patient_id=cycle.patient_id, number__gt=cycle.number)
                 .select_related("patient").order_by("number").first())
    if following is not None:
        deviations_refresh(cycle=following, reason=why, user=user)
    patient_facts_refresh(cycle.patient_id, reason=why, user=user)  # first/last infusion, malignancy timing
    return deviations


def deviations_refresh(*, cycle: TreatmentCycle, reason: str, user=None, creation_reason: str = "") -> list:
    """Bring the cycle's deviation log in line with its data, by INSERTs only.

    New causes open a deviation (its history row carries ``creation_reason``,
    empty by default); a cause that a correction removed resolves
    its deviation; a cause whose description changed is re-described. Both are
    a new row following the open one (the table is append-only, see
    ``ProtocolDeviation``): nothing is updated or deleted.
    """
    previous_start = (TreatmentCycle.objects.filter(patient_id=cycle.patient_id, number__lt=cycle.number)
                      .order_by("-number").values_list("start_date", flat=True).first())
    infusions = [rules.InfusionFacts(i.day, i.infusion_date, i.dose_g, i.max_rate_ml_per_h)
                 for i in Infusion.objects.filter(cycle=cycle)]
    found = {
        (d.kind.value, d.day): d
        for d in rules.cycle_deviations(
            start=cycle.start_date, previous_start=previous_start, weight_kg=cycle.weight_kg,
            dosing_weight=cycle.dosing_weight_kg, at_risk=cycle.patient.infusion_risk,
            infusions=infusions)
    }
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
