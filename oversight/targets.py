"""Which records and fields a data query can point at, for a patient or a cycle.

A target is written ``<model>:<pk>:<field>`` (field may be empty: the whole
record); this module lists the choices and resolves a target back, always
within one patient, so a query can never point outside the patient's scope.
"""

from django.utils.text import capfirst

from core.validation import ASCII_DIGITS
from patients.models import Diagnosis, MalignancyHistory
from safety.models import AdverseEvent, AdverseEventFollowUp
from visits.models import Assessment, Infusion, TreatmentCycle

SKIP = {"id", "version", "created_at", "updated_at", "patient", "cycle", "locked_at", "locked_by",
        "lock_reason", "voided_at", "void_reason", "reviewed_at", "reviewed_by", "mmt_total", "adverse_event"}
MODELS = {m._meta.model_name: m for m in (TreatmentCycle, Assessment, Infusion, Diagnosis,
                                          MalignancyHistory, AdverseEvent, AdverseEventFollowUp)}
#: How a record of each model is kept within one patient (default: its ``patient``).
SCOPE = {Infusion: "cycle__patient", AdverseEventFollowUp: "adverse_event__patient"}
MODELS["patient"] = None  # resolved to the patient itself


def _fields(model):
    return [(f.name, capfirst(f.verbose_name)) for f in model._meta.concrete_fields
            if f.name not in SKIP and f.editable]


def _options(record, label):
    key = f"{record._meta.model_name}:{record.pk}"
    return (label, [(f"{key}:", f"{label}: the whole record")] +
            [(f"{key}:{name}", f"{label}: {flabel}") for name, flabel in _fields(type(record))])


def cycle_targets(cycle):
    groups = [_options(cycle, f"Cycle {cycle.number} visit")]
    try:
        groups.append(_options(cycle.assessment, f"Cycle {cycle.number} assessment"))
    except Assessment.DoesNotExist:
        pass
    for infusion in cycle.infusions.order_by("day"):
        groups.append(_options(infusion, f"Cycle {cycle.number} day {infusion.day} infusion"))
    return groups


def patient_targets(patient):
    groups = [_options(patient, f"Patient {patient.subject_id}")]
    try:
        groups.append(_options(patient.diagnosis, "Diagnosis"))
    except Diagnosis.DoesNotExist:
        pass
    for m in patient.malignancies.current():
        groups.append(_options(m, f"Malignancy {m.malignancy_type}"))
    follow_ups = {}
    for follow_up in AdverseEventFollowUp.objects.filter(adverse_event__patient=patient):
        follow_ups.setdefault(follow_up.adverse_event_id, []).append(follow_up)
    for ae in patient.adverse_events.current():
        groups.append(_options(ae, f"Adverse event {ae.term} ({ae.onset_date:%Y-%m-%d})"))
        for follow_up in follow_ups.get(ae.pk, []):
            groups.append(_options(follow_up, _follow_up_label(follow_up, ae)))
    eot = patient.assessments.current().filter(cycle__isnull=True).first()
    if eot:
        groups.append(_options(eot, "End-of-treatment assessment"))
    return groups


def _follow_up_label(follow_up, event):
    return f"Follow-up {follow_up.follow_up_date:%Y-%m-%d} of adverse event {event.term}"


def resolve(patient, target):
    """(record, field name, field label, record label, cycle number) or None."""
    try:
        model_name, pk, field_name = target.split(":", 2)
    except ValueError:
        return None
    if not ASCII_DIGITS.fullmatch(pk):  # int() would read "١" as 1
        return None
    pk = int(pk)
    if model_name == "patient":
        record = patient if patient.pk == pk else None
    elif model_name in MODELS:
        model = MODELS[model_name]
        scope = {SCOPE.get(model, "patient"): patient}
        record = model.objects.filter(pk=pk, **scope).first()
    else:
        return None
    if record is None:
        return None
    fields = dict(_fields(type(record)))
    if field_name and field_name not in fields:
        return None
    cycle = record if isinstance(record, TreatmentCycle) else getattr(record, "cycle", None)
    label = {"patient": f"Patient {patient.subject_id}",
             "treatmentcycle": f"Cycle {getattr(cycle, 'number', '')} visit",
             "assessment": (f"Cycle {cycle.number} assessment" if cycle else "End-of-treatment assessment"),
             "infusion": f"Cycle {getattr(cycle, 'number', '')} day {getattr(record, 'day', '')} infusion",
             "diagnosis": "Diagnosis"}.get(model_name) or (
        _follow_up_label(record, record.adverse_event) if isinstance(record, AdverseEventFollowUp) else str(record))
    return record, field_name, fields.get(field_name, ""), label, getattr(cycle, "number", None)
