"""The edit checks' runs and switches (issue 17).

A run of a check over some patients (:func:`check_apply`):

1. reads what the check needs for those patients in bulk (``check.find``: a fixed number of
   queries) and the queries the check has raised on their records (one query);
2. raises a data query (``review.services.query_raise_by_check``: the same rows, history and
   notices as a monitor's raise) on each failing record and field, unless
   - a query of this check on that record and field is open or answered: never a duplicate
     (the database refuses one too: ``dataquery_one_open_per_check``); or
   - the latest one was closed by a person (a monitor who accepted the value) and the check
     finds the same values as when it raised it: a closed query stays closed until the data
     change, so a nightly run never re-opens it in a loop (and never re-sends its e-mails);
3. closes each of its open or answered queries whose record no longer fails, with the note
   "Closed automatically: the data no longer fail check EC003." (``query_close_by_check``: a
   closing message and a history row).

Who raises them: the checks' own account (:func:`system_user`, username ``edit-checks``), an
inactive user without a password or a role, so that every query, message and history row
names its author as a person's would (``raised_by``, ``author`` and ``history_user`` stay
required, and every page, export and notice that shows them works unchanged), while nobody
can log in as it or act with it elsewhere.

When they run:

- after each save (:func:`after_change`, registered in ``core.services.after_change_hooks``):
  the checks that read the saved record's model, for that record's patient only, once per
  transaction, after it commits (``transaction.on_commit``): a write that saves several
  records (a cycle with its assessment and infusions) is checked once, as committed, never in
  a half-written state; a failure of the run is logged and does not undo the save (the
  nightly run catches up);
- nightly, for the whole cohort (``editchecks/schedules.py``, a background job), and by
  ``manage.py run_edit_checks``: :func:`cohort_run`, logged as an ``EditCheckRun``.

Locked casebooks are not checked: their data can no longer change, and the lock ends their
cleaning (their queries stay as they were).

A check switched off (:func:`check_switch`) does not run; its open and answered queries are
closed with a note naming the switch and its reason: nobody would pursue their answers and
the check could no longer close them, so they would stay open for ever on the sites' and
monitors' lists. Switching it on again runs it over the cohort at once (a background job),
raising again what still fails (queries closed by the check are not "closed by a person").
"""

import logging

from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext as _

from accounts.languages import neutral
from accounts.scoping import require
from core.validation import validate_free_text
from patients.models import Patient
from review import services as review_services
from review.models import DataQuery, DataQueryMessage, QueryMessageKind, QueryStatus

from .checks import BY_ID, CHECKS, READ_LABELS
from .models import EditCheckRun, EditCheckSetting, RunTrigger

logger = logging.getLogger("editchecks")

SYSTEM_USERNAME = "edit-checks"
CLOSED_FIXED = "Closed automatically: the data no longer fail check {check_id}."
CLOSED_SWITCHED_OFF = "Closed automatically: check {check_id} was switched off by {user}: {reason}"


def system_user():
    """The checks' own account (created on first use): inactive, no usable password, no role."""
    user, created = get_user_model().objects.get_or_create(
        username=SYSTEM_USERNAME, defaults={"first_name": "Edit checks", "last_name": "(automatic)",
                                            "is_active": False})
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


def switched_off() -> set:
    """The ids of the checks an administrator switched off."""
    return set(EditCheckSetting.objects.filter(enabled=False).values_list("check_id", flat=True))


def checkable_patients(patient_ids=None):
    """The patients the checks read: all (or ``patient_ids``) but the locked casebooks."""
    patients = Patient.objects.filter(locked_at__isnull=True)
    return patients if patient_ids is None else patients.filter(pk__in=patient_ids)


# --- One check over some patients ---------------------------------------------------------------

def _queries_of(check, content_type, patients):
    """record id -> the latest query this check raised on the record's field, with the author of
    its latest closing message (``closed_by``): one query."""
    closing = (DataQueryMessage.objects.filter(query=OuterRef("pk"), kind=QueryMessageKind.CLOSE)
               .order_by("-at", "-pk").values("author_id")[:1])
    queries = (DataQuery.objects.filter(check_id=check.id, content_type=content_type, field_name=check.field,
                                        patient__in=patients)
               .annotate(closed_by=Subquery(closing)).order_by("raised_at", "pk")
               .only("pk", "object_id", "status", "check_values", "patient_id"))
    return {query.object_id: query for query in queries}  # the latest wins


def _field_label(check):
    with neutral():
        return str(check.field_label)


def check_find(check, *, patients, today):
    """The records of ``patients`` failing ``check`` on ``today`` (labels in the source language)."""
    with neutral():
        return check.find(patients, today)


def check_apply(check, *, patients, today, user):
    """Run ``check`` over ``patients`` (a queryset): raise and close its queries. Returns the
    counts {"failing", "raised", "closed"}."""
    content_type = ContentType.objects.get_for_model(check.model)
    failures = {failure.record_id: failure for failure in check_find(check, patients=patients, today=today)}
    latest = _queries_of(check, content_type, patients)
    raised = closed = 0
    for record_id, failure in failures.items():
        query = latest.get(record_id)
        if query is not None:
            if query.status != QueryStatus.CLOSED:
                continue  # open or answered: the check's question stands, no second one
            if query.closed_by != user.pk and query.check_values == failure.values:
                continue  # a person closed it, and the data have not changed since
        made = review_services.query_raise_by_check(
            check_id=check.id, check_values=failure.values, content_type=content_type, object_id=record_id,
            patient_id=failure.patient_id, field_name=check.field, field_label=_field_label(check),
            record_label=failure.record_label, question=check.question(failure), user=user,
            cycle_number=failure.cycle_number)
        raised += made is not None
    for record_id, query in latest.items():
        if query.status != QueryStatus.CLOSED and record_id not in failures:
            done = review_services.query_close_by_check(query=query, user=user,
                                                        text=CLOSED_FIXED.format(check_id=check.id))
            closed += done is not None
    return {"failing": len(failures), "raised": raised, "closed": closed}


def checks_run(*, patients, checks=None, today=None):
    """Run ``checks`` (default: all) over ``patients``, each in its own transaction; the checks
    switched off are skipped. Returns check id -> counts (or {"skipped": True})."""
    today = today or timezone.localdate()
    off = switched_off()
    user = system_user()
    results = {}
    for check in checks or CHECKS:
        if check.id in off:
            results[check.id] = {"skipped": True}
            continue
        with transaction.atomic():
            results[check.id] = check_apply(check, patients=patients, today=today, user=user)
    return results


def cohort_run(*, trigger, checks=None, today=None):
    """Run the checks over the whole cohort (but locked casebooks), logged as an ``EditCheckRun``
    (written before the run, completed after it: a run that failed half-way shows unfinished)."""
    patients = checkable_patients()
    run = EditCheckRun.objects.create(trigger=trigger, patients=patients.count())
    run.results = checks_run(patients=patients, checks=checks, today=today)
    run.finished_at = timezone.now()
    run.save(update_fields=["results", "finished_at"])
    return run


# --- After each save ----------------------------------------------------------------------------

class PatientRun:
    """The after-commit run of one patient's checks: those reading a model saved in the
    transaction (``labels``, added to as further records of the patient are saved)."""

    def __init__(self, patient_id):
        self.patient_id = patient_id
        self.labels = set()
        self.started = False

    def pending_for(self, patient_id):
        return not self.started and self.patient_id == patient_id

    def checks(self):
        return [check for check in CHECKS if check.read_labels & self.labels]

    def __call__(self):
        self.started = True
        checks_run(patients=checkable_patients([self.patient_id]), checks=self.checks())


def after_change(instance, reason, user=None):
    """``core.services.after_change_hooks``: schedule the saved record's patient's checks for
    when the transaction commits (once per patient and transaction)."""
    label = instance._meta.label_lower
    if label not in READ_LABELS:
        return
    patient = instance.patient_record()
    if patient is None or patient.pk is None:
        return
    connection = transaction.get_connection()
    for _savepoints, callback, _robust in connection.run_on_commit:
        if isinstance(callback, PatientRun) and callback.pending_for(patient.pk):
            callback.labels.add(label)
            return
    run = PatientRun(patient.pk)
    run.labels.add(label)
    transaction.on_commit(run, robust=True)  # a failed run is logged; the save stands


# --- Switching a check off and on -----------------------------------------------------------------

@transaction.atomic
def check_switch(*, check_id, enabled, reason, user):
    """Switch a check off (``enabled`` False) or on, with the reason (required): the setting's
    history row holds who, when and why. Switching off closes the check's open and answered
    queries with a note; switching on runs it over the cohort (a background job)."""
    require(user, "editchecks.change_editchecksetting",
            message=_("Only an administrator switches edit checks off and on."))
    check = BY_ID.get(check_id)
    if check is None:
        raise ValidationError({"check_id": ValidationError(_("There is no such edit check."), code="unknown")})
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": ValidationError(_("Give the reason."), code="required")})
    validate_free_text(reason, field="reason")
    setting = EditCheckSetting.objects.select_for_update().filter(check_id=check_id).first()
    if (setting.enabled if setting else True) == enabled:
        raise ValidationError(_("This check is already switched on.") if enabled
                              else _("This check is already switched off."), code="unchanged")
    setting = setting or EditCheckSetting(check_id=check_id)
    setting.enabled, setting.reason, setting.changed_by, setting.changed_at = enabled, reason, user, timezone.now()
    setting.full_clean()
    setting._history_user = user
    setting._change_reason = f"{'Switched on' if enabled else 'Switched off'}: {reason}"
    setting.save()
    if enabled:
        from . import tasks

        tasks.run_cohort.enqueue(check_ids=[check_id], trigger=RunTrigger.SWITCHED_ON)
    else:
        system = system_user()
        text = CLOSED_SWITCHED_OFF.format(check_id=check_id, user=user.get_username(), reason=reason)
        for query in DataQuery.objects.filter(check_id=check_id).exclude(status=QueryStatus.CLOSED):
            review_services.query_close_by_check(query=query, user=system, text=text)
    return setting


def describe(check):
    """``EC001: <message>`` in the active language (the command's and the pages' line)."""
    return f"{check.id}: {capfirst(check.text)}"
