"""Which records and fields a data query can point at, for a patient or a cycle.

A target is written ``<model>:<pk>:<field>`` (field may be empty: the whole
record); this module lists the choices and resolves a target back, always
within one patient, so a query can never point outside the patient's scope.

Labels are in the active language: the raise form's choices follow the user's; the
labels a query stores (``record_label``, ``field_label``) are resolved under
``accounts.languages.neutral()`` by the caller (stored values stay in the source language).
"""

from django.utils.formats import date_format
from django.utils.text import capfirst
from django.utils.translation import gettext as _

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
    return (label, [(f"{key}:", _("%(record)s: the whole record") % {"record": label})] +
            [(f"{key}:{name}", f"{label}: {flabel}") for name, flabel in _fields(type(record))])


def _cycle_label(number):
    return _("Cycle %(number)s visit") % {"number": number}


def _assessment_label(number):
    return _("Cycle %(number)s assessment") % {"number": number}


def _infusion_label(number, day):
    return _("Cycle %(number)s day %(day)s infusion") % {"number": number, "day": day}


def _patient_label(patient):
    return _("Patient %(subject_id)s") % {"subject_id": patient.subject_id}


def cycle_targets(cycle):
    groups = [_options(cycle, _cycle_label(cycle.number))]
    try:
        groups.append(_options(cycle.assessment, _assessment_label(cycle.number)))
    except Assessment.DoesNotExist:
        pass
    for infusion in cycle.infusions.order_by("day"):
        groups.append(_options(infusion, _infusion_label(cycle.number, infusion.day)))
    return groups


def patient_targets(patient):
    groups = [_options(patient, _patient_label(patient))]
    try:
        groups.append(_options(patient.diagnosis, _("Diagnosis")))
    except Diagnosis.DoesNotExist:
        pass
    for m in patient.malignancies.current():
        groups.append(_options(m, _("Malignancy %(type)s") % {"type": m.malignancy_type}))
    follow_ups = {}
    for follow_up in AdverseEventFollowUp.objects.filter(adverse_event__patient=patient):
        follow_ups.setdefault(follow_up.adverse_event_id, []).append(follow_up)
    for ae in patient.adverse_events.current():
        groups.append(_options(ae, _("Adverse event %(term)s (%(onset)s)") % {
            "term": ae.term, "onset": date_format(ae.onset_date, "SHORT_DATE_FORMAT")}))
        for follow_up in follow_ups.get(ae.pk, []):
            groups.append(_options(follow_up, _follow_up_label(follow_up, ae)))
    eot = patient.assessments.current().filter(cycle__isnull=True).first()
    if eot:
        groups.append(_options(eot, _("End-of-treatment assessment")))
    return groups


def _follow_up_label(follow_up, event):
    return _("Follow-up %(date)s of adverse event %(term)s") % {
        "date": date_format(follow_up.follow_up_date, "SHORT_DATE_FORMAT"), "term": event.term}


def resolve(patient, target):
    """(record, field name, field label, record label, cycle number) or None; the labels
    are plain strings in the active language (call under ``neutral()`` to store them)."""
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
    if model_name == "patient":
        label = _patient_label(patient)
    elif model_name == "treatmentcycle":
        label = _cycle_label(getattr(cycle, "number", ""))
    elif model_name == "assessment":
        label = _assessment_label(cycle.number) if cycle else _("End-of-treatment assessment")
    elif model_name == "infusion":
        label = _infusion_label(getattr(cycle, "number", ""), getattr(record, "day", ""))
    elif model_name == "diagnosis":
        label = _("Diagnosis")
    elif isinstance(record, AdverseEventFollowUp):
        label = _follow_up_label(record, record.adverse_event)
    else:
        label = str(record)
    return record, field_name, str(fields.get(field_name, "")), label, getattr(cycle, "number", None)
