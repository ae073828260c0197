"""The edit checks, as code, in this one module (issue 17).

Each check has:

- ``id``: stable (``EC001`` ...), stored on the data queries it raises (``DataQuery.check_id``)
  and on the administrators' switches; never reused for another condition;
- ``message``: what fails, translatable (shown in the reader's language; stored in English,
  the source language, in the question of the query it raises);
- ``model`` and ``field``: the record (and field; empty: the whole record) the query is
  raised on;
- ``reads``: the models whose saves can change its result (the after-save run of a patient
  runs the checks that read a record saved);
- ``find``: the bulk read (a fixed number of queries whatever the number of patients) of the
  values it needs, for a queryset of patients, calling its condition, a pure function of
  ``editchecks/rules.py``, on each record; it returns the :class:`Failure` of each record that
  fails, with the values found (stored with the query: a query closed by a person is not
  raised again while they are the same).

``editchecks.services`` runs them (after each save, nightly, ``manage.py run_edit_checks``),
raising and closing their queries. A new check is a new entry of :data:`CHECKS` (and its
condition in ``rules.py``); a check whose condition changes meaning gets a new id.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Callable

from django.db.models import Exists, Min, OuterRef
from django.utils.formats import date_format
from django.utils.text import capfirst
from django.utils.translation import gettext, gettext_noop
from django.utils.translation import gettext_lazy as _

from accounts.languages import neutral
from patients.models import Patient
from safety.models import AdverseEvent
from visits.models import Assessment, AssessmentTimepoint, Infusion, TreatmentCycle
from visits.rules import q1, times_upper_limit

from . import rules


@dataclass(frozen=True)
class Failure:
    """One record failing a check: the query's record, its patient, what was found (JSON:
    ISO dates, numbers as strings), the record's label (stored with the query, in the source
    language) and its cycle, if any."""

    record_id: int
    patient_id: int
    values: dict
    record_label: str
    cycle_number: int | None = None


@dataclass(frozen=True)
class EditCheck:
    id: str
    message: str  # a lazy translatable message; ``params`` fill its placeholders
    model: type
    field: str
    reads: tuple
    find: Callable
    detail: str  # the question's second sentence (gettext_noop): the values found, what to do
    params: dict = field(default_factory=dict)

    @property
    def text(self):
        """The message in the active language."""
        return str(self.message) % self.params

    def question(self, failure: Failure) -> str:
        """The question of the query raised for ``failure``, in the source language (stored)."""
        with neutral():
            return f"{self.id}: {self.text}. {gettext(self.detail) % failure.values}"

    @property
    def read_labels(self) -> frozenset:
        return frozenset(model._meta.label_lower for model in self.reads)

    @property
    def record_type(self):
        return capfirst(self.model._meta.verbose_name)

    @property
    def field_label(self):
        """The queried field's label in the active language; empty for the whole record."""
        return capfirst(self.model._meta.get_field(self.field).verbose_name) if self.field else ""

    @property
    def reads_text(self):
        return ", ".join(str(model._meta.verbose_name_plural) for model in self.reads)


# --- Bulk reads -------------------------------------------------------------------------------

def _ae_onsets(patients) -> dict:
    """patient id -> the onset dates of the patient's adverse events (not voided): one query."""
    onsets = defaultdict(list)
    for patient_id, onset in (AdverseEvent.objects.current().filter(patient__in=patients)
                              .values_list("patient_id", "onset_date")):
        onsets[patient_id].append(onset)
    return onsets


def _assessment_label(cycle_number):
    if cycle_number is None:
        return gettext("End-of-treatment assessment")
    return gettext("Cycle %(number)s assessment") % {"number": cycle_number}


def _iso(value: date | None) -> str:
    return value.isoformat() if value else ""


def _find_ck_without_ae(patients, today):
    rows = list(Assessment.objects.current().filter(patient__in=patients)
                .order_by("patient_id", "assessment_date", "pk")
                .values_list("pk", "patient_id", "cycle__number", "assessment_date", "ck_u_per_l", "ck_uln_u_per_l"))
    onsets = _ae_onsets(patients)
    found, seen = [], set()
    for pk, patient_id, number, on, ck, uln in rows:
        baseline = patient_id not in seen  # the patient's first assessment
        seen.add(patient_id)
        if rules.ck_above_limit_without_ae(ck=ck, uln=uln, assessment_date=on, ae_onsets=onsets.get(patient_id, ()),
                                           baseline=baseline):
            start, end = rules.ae_window(on)
            values = {"ck": str(ck), "uln": str(uln), "ratio": str(q1(times_upper_limit(ck, uln))),
                      "date": _iso(on), "start": _iso(start), "end": _iso(end)}
            found.append(Failure(pk, patient_id, values, _assessment_label(number), number))
    return found


def _find_assessment_after_infusion(patients, today):
    rows = (Assessment.objects.current().filter(patient__in=patients, cycle__isnull=False)
            .annotate(first_infusion=Min("cycle__infusions__infusion_date")).order_by("pk")
            .values_list("pk", "patient_id", "cycle__number", "assessment_date", "first_infusion"))
    found = []
    for pk, patient_id, number, on, first_infusion in rows:
        if rules.assessment_after_first_infusion(assessment_date=on, first_infusion_date=first_infusion):
            values = {"date": _iso(on), "infusion": _iso(first_infusion)}
            found.append(Failure(pk, patient_id, values, _assessment_label(number), number))
    return found


def _find_onset_before_consent(patients, today):
    rows = (AdverseEvent.objects.current().filter(patient__in=patients).order_by("pk")
            .values_list("pk", "patient_id", "term", "onset_date", "patient__consent_date"))
    found = []
    for pk, patient_id, term, onset, consent in rows:
        if rules.onset_before_consent(onset_date=onset, consent_date=consent):
            label = gettext("Adverse event %(term)s (%(onset)s)") % {
                "term": term, "onset": date_format(onset, "SHORT_DATE_FORMAT")}
            found.append(Failure(pk, patient_id, {"onset": _iso(onset), "consent": _iso(consent)}, label))
    return found


def _find_mmt_fall_without_ae(patients, today):
    rows = list(Assessment.objects.current().filter(patient__in=patients, mmt_total__isnull=False)
                .order_by("patient_id", "assessment_date", "pk")
                .values_list("pk", "patient_id", "cycle__number", "assessment_date", "mmt_scale", "mmt_total"))
    onsets = _ae_onsets(patients)
    previous = {}  # (patient, scale) -> (date, total) of the previous assessment
    found = []
    for pk, patient_id, number, on, scale, total in rows:
        before = previous.get((patient_id, scale))
        previous[(patient_id, scale)] = (on, total)
        if before is None:
            continue
        before_date, before_total = before
        if rules.mmt_fall_without_ae(previous_total=before_total, previous_date=before_date, total=total,
                                     assessment_date=on, ae_onsets=onsets.get(patient_id, ())):
            values = {"total": total, "date": _iso(on), "previous": before_total, "previous_date": _iso(before_date),
                      "change": str(rules.mmt_change_percent(before_total, total)),
                      "end": _iso(rules.ae_window(on)[1])}
            found.append(Failure(pk, patient_id, values, _assessment_label(number), number))
    return found


def _find_end_of_treatment_missing(patients, today):
    end_visit = Assessment.objects.current().filter(patient=OuterRef("pk"),
                                                    timepoint=AssessmentTimepoint.END_OF_TREATMENT)
    rows = (patients.annotate(has_end=Exists(end_visit)).order_by("pk")
            .values_list("pk", "subject_id", "status", "last_infusion_date", "has_end"))
    found = []
    for pk, subject_id, status, last, has_end in rows:
        if rules.end_of_treatment_missing(status=status, last_infusion_date=last, has_end_of_treatment=has_end,
                                          today=today):
            values = {"status": status, "last": _iso(last), "due": _iso(rules.end_of_treatment_due(last))}
            found.append(Failure(pk, pk, values, gettext("Patient %(subject_id)s") % {"subject_id": subject_id}))
    return found


def _find_weight_change(patients, today):
    rows = (TreatmentCycle.objects.filter(patient__in=patients).order_by("patient_id", "number")
            .values_list("pk", "patient_id", "number", "weight_kg"))
    previous = {}  # patient -> (number, weight) of the previous cycle
    found = []
    for pk, patient_id, number, weight in rows:
        before = previous.get(patient_id)
        previous[patient_id] = (number, weight)
        if before is None:
            continue
        if rules.weight_change_implausible(previous_weight=before[1], weight=weight):
            values = {"weight": str(weight), "number": number, "previous": str(before[1]),
                      "previous_number": before[0], "change": str(rules.weight_change_percent(before[1], weight))}
            found.append(Failure(pk, patient_id, values, gettext("Cycle %(number)s visit") % {"number": number},
                                 number))
    return found


# --- The checks -------------------------------------------------------------------------------

CHECKS = (
    EditCheck(
        id="EC001",
        message=_("CK above %(times)s times the upper limit of normal after baseline with no adverse event with "
                  "onset within %(days)s days of the assessment"),
        params={"times": rules.CK_TIMES_UPPER_LIMIT, "days": rules.AE_WINDOW_DAYS},
        model=Assessment, field="ck_u_per_l", reads=(Assessment, AdverseEvent),
        find=_find_ck_without_ae,
        detail=gettext_noop("CK %(ck)s U/L on %(date)s is %(ratio)s times the upper limit of normal (%(uln)s U/L), "
                            "and no adverse event has its onset from %(start)s to %(end)s. Record the adverse "
                            "event, or confirm the value."),
    ),
    EditCheck(
        id="EC002",
        message=_("Pre-treatment assessment dated after the cycle's first infusion"),
        model=Assessment, field="assessment_date", reads=(Assessment, Infusion, TreatmentCycle),
        find=_find_assessment_after_infusion,
        detail=gettext_noop("The assessment is dated %(date)s, after the cycle's first infusion on %(infusion)s. "
                            "Correct the date."),
    ),
    EditCheck(
        id="EC003",
        message=_("Adverse event with onset before the patient's consent"),
        model=AdverseEvent, field="onset_date", reads=(AdverseEvent, Patient),
        find=_find_onset_before_consent,
        detail=gettext_noop("The onset (%(onset)s) is before the consent (%(consent)s). A condition that began "
                            "before consent is medical history: correct the date, or void the event."),
    ),
    EditCheck(
        id="EC004",
        message=_("MMT-8 total %(percent)s %% or more below the previous assessment's with no adverse event "
                  "with onset from that assessment to %(days)s days after this one"),
        params={"percent": rules.MMT_FALL_PERCENT, "days": rules.AE_WINDOW_DAYS},
        model=Assessment, field="", reads=(Assessment, AdverseEvent),
        find=_find_mmt_fall_without_ae,
        detail=gettext_noop("MMT-8 total %(total)s on %(date)s, %(change)s %% from %(previous)s on "
                            "%(previous_date)s, and no adverse event has its onset from %(previous_date)s to "
                            "%(end)s. Record the adverse event, or confirm the grades."),
    ),
    EditCheck(
        id="EC005",
        message=_("No end-of-treatment assessment %(weeks)s weeks after the last infusion of a patient no "
                  "longer treated (completed or withdrawn)"),
        params={"weeks": rules.END_OF_TREATMENT_DUE_DAYS // 7},
        model=Patient, field="", reads=(Patient, Assessment, TreatmentCycle, Infusion),
        find=_find_end_of_treatment_missing,
        detail=gettext_noop("Status %(status)s, last infusion on %(last)s: the end-of-treatment visit was due "
                            "by %(due)s. Enter it, or say why it was not done."),
    ),
    EditCheck(
        id="EC006",
        message=_("Weight more than %(percent)s %% from the previous cycle's"),
        params={"percent": rules.WEIGHT_CHANGE_PERCENT},
        model=TreatmentCycle, field="weight_kg", reads=(TreatmentCycle,),
        find=_find_weight_change,
        detail=gettext_noop("%(weight)s kg at cycle %(number)s, %(previous)s kg at cycle %(previous_number)s "
                            "(%(change)s %%). The dose is per kg: confirm or correct the weight."),
    ),
)

BY_ID = {check.id: check for check in CHECKS}
#: The models whose saves an after-save run looks at (label_lower).
READ_LABELS = frozenset().union(*(check.read_labels for check in CHECKS))
