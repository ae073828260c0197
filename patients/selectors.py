"""Reads for the patients app; every one is scoped to the user's sites."""

from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _

from accounts.scoping import scope_to_user_sites
from core.crf import case_report_form, history_rows
from core.history import change_entries

from .models import SCHEDULE_FACTS, Certainty, Diagnosis, MalignancyHistory, Patient, PatientStatus, Sex


def patient_list(*, user):
    """The patients of the user's sites, by subject id; a list filters it with
    ``patients.filters.PatientFilterSet(data, queryset=patient_list(user=...)).qs``."""
    return scope_to_user_sites(Patient.objects.with_related(), user).order_by("subject_id")


#: The columns of a patient-list row (``patient_list_rows``).
LIST_ROW_FIELDS = (
    "pk", "subject_id", "site__code", "sex", "age_at_enrolment", "enrolment_date", "status",
    "diagnosis__pk", "diagnosis__kind", "diagnosis__certainty",
    "next_cycle_planned_date", "next_cycle_window_start_date", "next_cycle_window_end_date",
)


def patient_list_rows(patients):
    """What a page of the patient list shows, one dict per patient, in one query: plain values
    (the stored facts), not model instances. ``patients``: a slice of ``patient_list()``."""
    # The labels in the page's language, as plain strings (they are part of the rows' cache key).
    sexes = {value: str(label) for value, label in Sex.choices}
    statuses = {value: str(label) for value, label in PatientStatus.choices}
    certainties = {value: str(label) for value, label in Certainty.choices}
    rows = []
    for v in patients.values(*LIST_ROW_FIELDS):
        has_diagnosis = v["diagnosis__pk"] is not None
        rows.append({
            "pk": v["pk"], "subject_id": v["subject_id"], "site_code": v["site__code"],
            "sex": sexes.get(v["sex"], v["sex"]),
            "age_at_enrolment": v["age_at_enrolment"],
            "has_diagnosis": has_diagnosis, "diagnosis": v["diagnosis__kind"] if has_diagnosis else None,
            "certainty": (certainties.get(v["diagnosis__certainty"], v["diagnosis__certainty"])
                          if has_diagnosis else None),
            "enrolment_date": v["enrolment_date"],
            "status": statuses.get(v["status"], v["status"]),
            **{name: v[name] for name in SCHEDULE_FACTS},
        })
    return rows


def patient_get(*, user, pk, treatment_dates=True):
    """The patient, or 404 when it does not exist or is outside the user's sites
    (404, not 403, so another site's patient does not leak its existence).

    The treatment dates and what derives from them are stored on the patient
    (``patients.services``); ``treatment_dates`` is kept for the callers and
    changes nothing."""
    return get_object_or_404(scope_to_user_sites(Patient.objects.with_related(), user), pk=pk)


def patient_diagnosis(patient):
    try:
        return patient.diagnosis
    except Diagnosis.DoesNotExist:
        return None


def patient_malignancies(patient):
    """All malignancy rows, voided ones included (shown struck through)."""
    return list(MalignancyHistory.objects.filter(patient=patient).order_by("diagnosis_date", "pk"))


def malignancy_get(*, user, patient_pk, pk):
    qs = scope_to_user_sites(MalignancyHistory.objects.select_related("patient", "patient__site"),
                             user, site_field="patient__site")
    return get_object_or_404(qs, pk=pk, patient_id=patient_pk)


def patient_change_log(patient):
    """Every change to the patient, its diagnosis and its malignancies: three queries."""
    rows = list(Patient.history.filter(id=patient.pk).select_related("history_user", "site"))
    rows += list(Diagnosis.history.filter(patient_id=patient.pk).select_related("history_user"))
    malignancy_rows = list(
        MalignancyHistory.history.filter(patient_id=patient.pk).select_related("history_user"))
    rows += malignancy_rows

    def label(row):
        if isinstance(row, MalignancyHistory.history.model):
            return row.malignancy_type
        return patient.subject_id

    return change_entries(rows, record_label=label)


# --- Read-only case report forms (core.crf) -----------------------------------------------

def patient_history_rows(patient):
    """The history rows of the patient, its diagnosis and its malignancies: three queries."""
    return [*history_rows(Patient, id=patient.pk), *history_rows(Diagnosis, patient_id=patient.pk),
            *history_rows(MalignancyHistory, patient_id=patient.pk)]


def patient_forms(patient, diagnosis, malignancies, history):
    """The enrolment, diagnosis and malignancy forms (``core.crf.CaseReportForm``), no query."""
    return {
        "patient": case_report_form(patient, title=_("Enrolment of %(subject)s") % {"subject": patient.subject_id}, history=history),
        "diagnosis": (case_report_form(diagnosis, title=_("Diagnosis"), history=history)
                      if diagnosis is not None else None),
        "malignancies": [case_report_form(m, title=_("Malignancy: %(type)s") % {"type": m.malignancy_type}, history=history)
                         for m in malignancies],
    }
