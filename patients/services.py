"""Writes in the patients app that are more than a ModelForm save."""

from django.core.exceptions import ValidationError
from django.db import transaction

from core.services import record_save

from .models import Patient, StatusChangeError

#: Run after every patient save, in its transaction: ``f(*, patient, reason, user)``. The
#: visits app registers the re-judging of the cycles a patient edit affects (a risk, its
#: date, the sex behind the ideal body weight): patients imports nothing from visits.
_AFTER_SAVE: list = []


def after_save_register(hook) -> None:
    if hook not in _AFTER_SAVE:
        _AFTER_SAVE.append(hook)


@transaction.atomic
def patient_save(*, instance: Patient, reason: str = "", expected_version=None, user=None) -> Patient:
    """Create or update a patient (``record_save``), then let the apps that store facts
    derived from the patient bring them up to date, with the same reason."""
    creating = instance.pk is None
    record_save(instance=instance, reason=reason, expected_version=expected_version, user=user)
    if not creating:
        for hook in _AFTER_SAVE:
            hook(patient=instance, reason=reason, user=user)
    return instance


@transaction.atomic
def patient_withdraw(*, patient: Patient, on, reason: str, expected_version: int) -> Patient:
    """Withdraw a patient (guarded status change); the reason goes to the audit trail."""
    try:
        patient.withdraw(on=on, reason=reason.strip())
    except StatusChangeError as exc:
        raise ValidationError(str(exc), code="transition_not_allowed") from exc
    return patient_save(instance=patient, reason=f"Withdrawn: {reason.strip()}",
                        expected_version=expected_version)
