"""The work lists behind the dashboard's sections: cycles and casebooks with their
review state (a valid signature, a valid source data verification, the lock), in
one query per page whatever the cohort size. The dashboard counts the same
querysets (``oversight.dashboard``), so a section's count is its list's length."""

from django.contrib.contenttypes.models import ContentType
from django.db.models import BooleanField, Exists, ExpressionWrapper, OuterRef, Q

from accounts.scoping import scope_to_user_sites
from patients.models import Patient
from review.models import Signature, SourceVerification
from visits.models import TreatmentCycle


def valid_reviews(model, content_type):
    """The review rows (signatures or verifications) of the outer record that no recorded
    invalidation ended. The lists do not re-hash every record (that is the audit's
    signature check, ``review.selectors.check_reviews``); the timeline and the check show
    a row whose data were altered outside the app as invalid."""
    return model.objects.filter(content_type=content_type, object_id=OuterRef("pk")).not_invalidated()


def _locked(field="locked_at"):
    return ExpressionWrapper(Q(**{f"{field}__isnull": False}), output_field=BooleanField())


def cycle_worklist(user):
    """The cycles of the user's sites with ``signed``, ``verified`` and ``locked``
    (the cycle's or its casebook's lock), by patient and number."""
    ct = ContentType.objects.get_for_model(TreatmentCycle)
    return (scope_to_user_sites(TreatmentCycle.objects.all(), user, site_field="patient__site")
            .annotate(signed=Exists(valid_reviews(Signature, ct)),
                      verified=Exists(valid_reviews(SourceVerification, ct)),
                      locked=ExpressionWrapper(Q(locked_at__isnull=False) | Q(patient__locked_at__isnull=False),
                                               output_field=BooleanField()))
            .select_related("patient", "patient__site")
            .order_by("patient__subject_id", "number"))


def casebook_worklist(user):
    """The casebooks (patients) of the user's sites with ``signed`` and ``locked``, by subject id."""
    ct = ContentType.objects.get_for_model(Patient)
    return (scope_to_user_sites(Patient.objects.all(), user)
            .annotate(signed=Exists(valid_reviews(Signature, ct)), locked=_locked())
            .select_related("site")
            .order_by("subject_id"))
