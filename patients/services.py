"""Writes in the patients app that are more than a ModelForm save."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from core.services import record_save

from .models import MalignancyHistory, Patient, StatusChangeError


@transaction.atomic
def patient_withdraw(*, patient: Patient, on, reason: str, expected_version: int) -> Patient:
    """Withdraw a patient (guarded status change); the reason goes to the audit trail."""
    try:
        patient.withdraw(on=on, reason=reason.strip())
    except StatusChangeError as exc:
        raise ValidationError(str(exc), code="transition_not_allowed") from exc
    return record_save(instance=patient, reason=f"Withdrawn: {reason.strip()}",
                       expected_version=expected_version)


@transaction.atomic
def malignancy_void(*, malignancy: MalignancyHistory, reason: str,
                    expected_version: int) -> MalignancyHistory:
    """Void a malignancy entered in error; the row stays, marked void, with its reason."""
    if malignancy.is_voided:
        raise ValidationError("This entry is already voided.", code="already_voided")
    malignancy.voided_at = timezone.now()
    malignancy.void_reason = reason.strip()
    return record_save(instance=malignancy, reason=f"Voided: {reason.strip()}",
                       expected_version=expected_version)
