from django.core.exceptions import ValidationError
from django.db import OperationalError, connection, transaction
from django.db.models import F
from django.utils.translation import gettext_lazy as _

from .validation import validate_free_text


def connection_lost() -> bool:
    """True once the server has dropped this thread's database connection."""
    raw = connection.connection  # psycopg2: ``closed`` is non-zero once dropped
    return raw is not None and bool(getattr(raw, "closed", False))


#: What runs after every save of ``record_save``, inside its transaction: callables
#: ``hook(instance, reason, user)``. The kernel's one explicit extension point for
#: writes: ``review`` registers ``review.services.after_change`` (the invalidation of
#: signatures and verifications a change made untrue) in its ``AppConfig.ready``, so
#: the kernel and the capture apps never import review.
after_change_hooks = []


def register_after_change(hook):
    """Add ``hook`` to :data:`after_change_hooks` (once; idempotent)."""
    if hook not in after_change_hooks:
        after_change_hooks.append(hook)
    return hook


class StaleRecordError(Exception):
    """The record changed since the editor loaded it."""

    def __init__(self, instance, stored_version, expected_version=None):
        self.instance = instance
        self.stored_version = stored_version
        self.expected_version = expected_version  # the version the editor opened
        super().__init__(
            f"{instance._meta.verbose_name} {instance.pk} is at version {stored_version}, "
            f"not {instance.version}"
        )


_ROLE_PERMISSION = object()


def record_save(*, instance, reason="", expected_version=None, user=None, permission=_ROLE_PERMISSION):
    """Create or update a clinical record with its history row, in one transaction:
    the one write of every channel (pages, API, import, generator; the Django admin
    only reads clinical records).

    - The record's parents (``PARENT_FIELDS``) and fixed links (``FIXED_FIELDS``) are
      compared with the stored row: a change is refused (``parent_immutable``), so no
      channel moves a record to another patient or a patient to another site.
    - With a ``user``, the user must hold, at the patient's site, a role granting
      ``permission`` (default: ``add_<model>`` / ``change_<model>``, see
      ``ClinicalRecord.write_permission``; None: the caller checked, e.g. a reviewer's
      act). ``PermissionDenied`` otherwise, nothing written.
    - ``full_clean`` (the model's rules) and the lock of every parent (read under a
      row lock inside the transaction): a write beneath a locked cycle or casebook
      is refused (``locked``).
    - An update needs a reason for change (stored on the history row) and is a
      compare-and-swap on ``version``: if somebody else saved since
      ``expected_version`` was read, :class:`StaleRecordError` is raised and
      nothing is written.
    """
    validate_free_text(reason, field="change_reason")
    check_fixed_fields(instance)
    if user is not None and not getattr(instance, "_lock_operation", False):
        check_write_permission(instance, user, permission)
    try:
        instance.full_clean()
    except ValidationError as exc:
        # Django's constraint checks (Q.check) report a database error as
        # "constraint violated": a lost connection is not the user's error.
        if connection_lost():
            raise OperationalError("The database connection was lost during validation.") from exc
        raise
    if user is not None:
        instance._history_user = user
    instance._change_reason = reason or None
    with transaction.atomic():
        instance.check_not_locked(for_update=True)
        if instance.pk is not None:
            if not reason or not reason.strip():
                raise ValueError("An edit after first entry needs a reason for change.")
            model = type(instance)
            expected = instance.version if expected_version is None else expected_version
            claimed = model.objects.filter(pk=instance.pk, version=expected).update(
                version=F("version") + 1
            )
            if not claimed:
                stored = model.objects.filter(pk=instance.pk).values_list("version", flat=True).first()
                raise StaleRecordError(instance, stored, expected)
            instance.version = expected + 1
        instance.save()
        changed_by = user or _request_user()
        for hook in after_change_hooks:
            hook(instance, reason, changed_by)
    return instance


def check_fixed_fields(instance):
    """Refuse a change of the record's parents or fixed links against the stored row."""
    names = (*getattr(instance, "PARENT_FIELDS", ()), *getattr(instance, "FIXED_FIELDS", ()))
    if instance.pk is None or not names:
        return
    attnames = {name: instance._meta.get_field(name).attname for name in names}
    stored = type(instance)._default_manager.filter(pk=instance.pk).values(*attnames.values()).first()
    if stored is None:
        return
    errors = {}
    for name, attname in attnames.items():
        if stored[attname] != getattr(instance, attname):
            field = instance._meta.get_field(name)
            errors[name] = ValidationError(
                _("The %(field)s of a %(record)s is set when it is created and cannot be changed: "
                "nothing was saved. Void this entry and enter it under the right %(field)s."),
                code="parent_immutable",
                params={"field": field.verbose_name, "record": instance._meta.verbose_name})
    if errors:
        raise ValidationError(errors)


def check_write_permission(instance, user, permission=_ROLE_PERMISSION):
    """``PermissionDenied`` unless ``user`` may write ``instance`` at its patient's site."""
    if permission is _ROLE_PERMISSION:
        permission = instance.write_permission(instance.pk is None)
    if permission is None:
        return
    from accounts.scoping import require

    patient = instance.patient_record()
    site_id = getattr(patient, "site_id", None)
    require(user, permission, site_id=site_id,
            message=_("Your roles at this patient's site do not allow this entry (%(record)s): nothing was "
                      "saved.") % {"record": instance._meta.verbose_name})


def _request_user():
    """The user of the current request (HistoryRequestMiddleware keeps it), if any."""
    from simple_history.models import HistoricalRecords

    request = getattr(HistoricalRecords.context, "request", None)
    user = getattr(request, "user", None)
    return user if user is not None and user.is_authenticated else None


def record_void(*, instance, reason, expected_version, user=None):
    """Void a record entered in error: it stays, marked void with the reason.

    The model has ``voided_at`` and ``void_reason``; nothing is deleted.
    """
    from django.core.exceptions import ValidationError
    from django.utils import timezone

    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"void_reason": ValidationError(_("Give the reason for voiding."),
                                                              code="required")})
    if instance.voided_at is not None:
        raise ValidationError(_("This entry is already voided."), code="already_voided")
    instance.voided_at = timezone.now()
    instance.void_reason = reason
    return record_save(instance=instance, reason=f"Voided: {reason}",
                       expected_version=expected_version, user=user)
