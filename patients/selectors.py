"""Reads for the patients app; every one is scoped to the user's sites."""

from django.db.models import Q
from django.shortcuts import get_object_or_404

from accounts.scoping import scope_to_user_sites
from core.history import change_entries

from .models import Diagnosis, MalignancyHistory, Patient


def patient_list(*, user, site=None, status=None, diagnosis=None, search=None):
    qs = scope_to_user_sites(Patient.objects.with_related(), user)
    if site:
        qs = qs.filter(site=site)
    if status:
        qs = qs.filter(status=status)
    if diagnosis == "none":
        qs = qs.filter(diagnosis__isnull=True)
    elif diagnosis:
        qs = qs.filter(diagnosis__kind=diagnosis)
    if search:
        qs = qs.filter(Q(subject_id__icontains=search.strip()))
    return qs.order_by("subject_id")


def patient_get(*, user, pk):
    """The patient, or 404 when it does not exist or is outside the user's sites
    (404, not 403, so another site's patient does not leak its existence)."""
    return get_object_or_404(
        scope_to_user_sites(Patient.objects.with_related().with_treatment_dates(), user), pk=pk)


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
