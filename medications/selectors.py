"""Reads of concomitant medications (scoped to the user's sites)."""

from django.shortcuts import get_object_or_404

from accounts.scoping import may, scope_to_user_sites
from core.crf import case_report_form, history_rows

from .models import ConcomitantMedication


def patient_medications(patient):
    """Every medication of ``patient`` by start date, voided ones too (shown struck through): one query."""
    return list(ConcomitantMedication.objects.filter(patient=patient).order_by("start_date", "pk"))


def medication_get(*, user, patient_pk, pk):
    qs = scope_to_user_sites(ConcomitantMedication.objects.select_related("patient", "patient__site"),
                             user, site_field="patient__site")
    return get_object_or_404(qs, pk=pk, patient_id=patient_pk)


def medications_history_rows(patient):
    """The history rows of the patient's medications: one query."""
    return history_rows(ConcomitantMedication, patient_id=patient.pk)


def medication_forms(medications, history, title):
    """The medications as read-only case report forms (``title(medication)`` names each)."""
    return [case_report_form(m, title=title(m), history=history) for m in medications]


def may_edit(user, patient):
    """Whether ``user`` adds and corrects medications of ``patient`` now (not under a lock)."""
    return patient.locked_at is None and may(user, "medications.change_concomitantmedication",
                                             site_id=patient.site_id)
