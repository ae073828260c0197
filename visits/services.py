"""Writes that span the records of a treatment cycle, in one transaction."""

from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from core.services import record_save
from patients.models import Patient

from . import rules
from .models import Infusion, ProtocolDeviation, TreatmentCycle


class CyclePartError(Exception):
    """A rule refused one part of the cycle (``part``: cycle, assessment, day1, day2)."""

    def __init__(self, part, error: ValidationError):
        self.part = part
        self.error = error
        super().__init__(f"{part}: {error}")


@dataclass
class CycleParts:
    """The records entered on the record-cycle page; ``None`` means not entered
    (or not changed, on an edit)."""

    cycle: TreatmentCycle
    assessment: object = None
    infusions: dict = field(default_factory=dict)  # day -> Infusion or None
    expected_versions: dict = field(default_factory=dict)  # part -> version the editor saw


def next_cycle_number(patient) -> int:
    top = TreatmentCycle.objects.filter(patient=patient).aggregate(top=Max("number"))["top"]
    return (top or 0) + 1


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
            record_save(instance=instance, reason="" if creating else reason,
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
    deviations = deviations_refresh(cycle=cycle, reason=why, user=user)
    following = (TreatmentCycle.objects.filter(patient_id=cycle.patient_id, number__gt=cycle.number)
                 .select_related("patient").order_by("number").first())
    if following is not None:
        try:  # its visit window follows this cycle's date; a lock of that cycle refuses the change
            deviations_refresh(cycle=following, reason=why, user=user)
        except ValidationError as exc:
            raise CyclePartError("cycle", exc) from exc
    return deviations


def deviations_refresh(*, cycle: TreatmentCycle, reason: str, user=None) -> list:
    """Bring the cycle's deviation log in line with its data, by INSERTs only.

    New causes open a deviation; a cause that a correction removed resolves
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
            record_save(user=user, instance=ProtocolDeviation(
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
