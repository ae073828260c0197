"""Writes in the patients app that are more than a ModelForm save."""

from django.core.exceptions import ValidationError
from django.db import transaction

from core.services import record_save

from .models import Patient, StatusChangeError


@transaction.atomic
def patient_withdraw(*, patient: Patient, on, reason: str, expected_version: int, user=None) -> Patient:
    """Withdraw a patient (guarded status change); the reason goes to the audit trail."""
    try:
        patient.withdraw(on=on, reason=reason.strip())
    except StatusChangeError as exc:
        raise ValidationError(str(exc), code="transition_not_allowed") from exc
    return record_save(instance=patient, reason=f"Withdrawn: {reason.strip()}",
                       expected_version=expected_version, user=user)
