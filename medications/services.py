"""Writes of concomitant medications, whatever the channel (form, API, admin, demo).

The derived facts (ATC names, the corticosteroid / immunosuppressant / statin /
oestrogen flags, started during the study) are computed by
``medications.rules.medication_facts`` and stored here, through
``core.services.record_save`` (locks on the patient's casebook, history with the
reason for change, optimistic concurrency). When a patient's first infusion moves
(``patients.services.patient_facts_refresh``), :func:`patient_medications_refresh`
re-derives the patient's medications.
"""

from django.core.exceptions import ValidationError
from django.db import transaction

from core.derived import DerivedChange
from core.services import record_save, record_void
from patients.models import Patient

from . import rules
from .models import MEDICATION_FACTS, ConcomitantMedication


def _facts(medication, first_infusion) -> dict:
    facts = rules.medication_facts(atc_code=medication.atc_code, start_date=medication.start_date,
                                   first_infusion=first_infusion)
    return {name: getattr(facts, name) for name in MEDICATION_FACTS}


def _first_infusion(medication):
    if not medication.patient_id:
        return None
    patient = medication.patient
    return patient.first_infusion_date


def medication_derive(medication, first_infusion=...) -> dict:
    """Set the medication's stored facts from the rules (no write); returns those that changed.
    ``first_infusion``: the patient's first infusion date, else read from the patient."""
    medication.atc_code = rules.normal_atc(medication.atc_code)
    if first_infusion is ...:
        first_infusion = _first_infusion(medication)
    facts = _facts(medication, first_infusion)
    changed = {name: value for name, value in facts.items() if getattr(medication, name) != value}
    for name, value in facts.items():
        setattr(medication, name, value)
    medication.rules_version = rules.RULES_VERSION
    return changed


@transaction.atomic
def medication_save(*, medication: ConcomitantMedication, user=None, reason: str = "",
                    expected_version: int | None = None) -> ConcomitantMedication:
    """Create or correct a concomitant medication: the derived facts, then ``record_save``
    (model rules, lock and version checks, history with ``reason``)."""
    if medication.patient_id:
        # The first infusion as stored now (not as a stale instance of the patient holds it).
        first = Patient.objects.filter(pk=medication.patient_id).values_list("first_infusion_date", flat=True).first()
        medication_derive(medication, first)
    return record_save(instance=medication, reason=reason, expected_version=expected_version, user=user)


@transaction.atomic
def medication_void(*, medication: ConcomitantMedication, reason: str, expected_version: int,
                    user=None) -> ConcomitantMedication:
    return record_void(instance=medication, reason=reason, expected_version=expected_version, user=user)


def _store(medication, *, reason, user):
    """Write the derived facts only (no version bump: a derived fact is no edit of what was
    entered), with a history row carrying ``reason``; refused under a lock."""
    with transaction.atomic():
        medication.check_not_locked(for_update=True)
        medication._change_reason = reason
        if user is not None:
            medication._history_user = user
        medication.save(update_fields=[*MEDICATION_FACTS, "rules_version"])


def _refresh(medications, *, reason, user, apply) -> list[DerivedChange]:
    changes = []
    for medication in medications:
        stored = {name: getattr(medication, name) for name in MEDICATION_FACTS}
        differing = medication_derive(medication, medication.patient.first_infusion_date)
        if not differing:
            continue
        written, refused = False, ""
        if apply:
            try:
                _store(medication, reason=reason, user=user)
                written = True
            except ValidationError as exc:
                refused = "; ".join(exc.messages)
        label = f"ConcomitantMedication {medication.pk} ({medication.patient.subject_id}: {medication.drug_name})"
        changes += [DerivedChange(label, name, stored[name], value, written=written, refused=refused)
                    for name, value in differing.items()]
    return changes


def patient_medications_refresh(*, patient, reason: str, user=None) -> list[DerivedChange]:
    """Re-derive a patient's medications (their first infusion moved): registered with
    ``patients.services.facts_refreshed_register``."""
    patient_id = patient if isinstance(patient, int) else patient.pk
    medications = ConcomitantMedication.objects.filter(patient_id=patient_id).select_related("patient")
    return _refresh(medications, reason=reason, user=user, apply=True)


def derived_recompute(*, apply: bool, reason: str, user=None) -> list[DerivedChange]:
    """Every medication's stored facts against what the rules derive now (voided ones too)."""
    medications = ConcomitantMedication.objects.select_related("patient").order_by("pk")
    return _refresh(medications.iterator(chunk_size=2000), reason=reason, user=user, apply=apply)
