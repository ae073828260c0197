"""A patient's casebook as read-only forms, in visit order, in a constant number of queries.

The enrolment, the diagnosis, the malignancies, each cycle (visit, pre-treatment
assessment, infusions, deviations), the end-of-treatment visit, then the adverse
events with their follow-ups, then the concomitant medications. The adverse events are their own section (the AE
log of a paper casebook), by onset date, each naming the cycle during which it
began: an event is reviewed, followed up and verified as one record that may
outlast its cycle, and the placement is the timeline's
(``visits.selectors.patient_timeline``), not a second rule.

Lives in ``safety``, the capture app that sees the others (patients <- visits <- safety;
patients <- medications <- safety).
"""

from dataclasses import dataclass, field

from django.utils.formats import date_format
from django.utils.translation import gettext as _

from core.crf import histories
from core.history import change_entries
from core.selectors import review_state
from medications import selectors as medication_selectors
from patients import selectors as patient_selectors
from visits import selectors as visit_selectors

from . import selectors


@dataclass
class Casebook:
    patient: object
    review: object
    enrolment: object = None
    diagnosis: object = None
    malignancies: list = field(default_factory=list)
    cycles: list = field(default_factory=list)
    missed_cycles: list = field(default_factory=list)
    end_of_treatment: object = None
    adverse_events: list = field(default_factory=list)
    medications: list = field(default_factory=list)
    change_log: list = field(default_factory=list)

    @property
    def signature(self):
        return self.review.signature(self.patient)

    @property
    def form_count(self):
        return (1 + bool(self.diagnosis) + len(self.malignancies) + sum(len(c.forms) for c in self.cycles) + len(self.missed_cycles)
                + bool(self.end_of_treatment) + sum(1 + len(e.follow_ups) for e in self.adverse_events)
                + len(self.medications))


def _record_label(patient, cycles, events):
    """Names the record of a history row in the casebook's change log, from what is loaded."""
    numbers = {c.pk: c.number for c in cycles}
    terms = {e.pk: e.term for e in events}

    def label(row):
        name = row.instance_type._meta.model_name
        if name == "patient":
            return patient.subject_id
        if name == "malignancyhistory":
            return row.malignancy_type
        if name == "treatmentcycle":
            return _("cycle %(number)s") % {"number": row.number}
        if name == "assessment":
            return (_("cycle %(number)s") % {"number": numbers.get(row.cycle_id, "?")} if row.cycle_id
                    else _("end of treatment"))
        if name == "infusion":
            return _("cycle %(number)s day %(day)s") % {"number": numbers.get(row.cycle_id, "?"), "day": row.day}
        if name == "missedcycle":
            return _("missed cycle planned %(date)s") % {"date": date_format(row.planned_date, "SHORT_DATE_FORMAT")}
        if name == "adverseevent":
            return row.term
        if name == "concomitantmedication":
            return row.drug_name
        if name == "adverseeventfollowup":
            return _("of %(term)s on %(date)s") % {"term": terms.get(row.adverse_event_id, "?"),
                                                    "date": date_format(row.follow_up_date, "SHORT_DATE_FORMAT")}
        return ""
    return label


def _medication_title(medication):
    return _("Concomitant medication: %(drug)s, from %(start)s") % {
        "drug": medication.drug_name, "start": date_format(medication.start_date, "SHORT_DATE_FORMAT")}


def casebook_get(patient, *, with_history=True):
    """Every form of ``patient``'s casebook with its review state and history (the review
    state's signatures and verifications carry the current hashes of their records).
    ``with_history=False``: the forms without their history (the sign page)."""
    events = selectors.patient_adverse_events(patient)
    rows, _baseline = visit_selectors.patient_timeline(patient, events)
    state = review_state(patient)
    state.attach_current_hashes(visit_selectors.timeline_review_hashes(patient, rows, state))
    diagnosis = patient_selectors.patient_diagnosis(patient)
    malignancies = patient_selectors.patient_malignancies(patient)
    missed = visit_selectors.patient_missed_cycles(patient)
    medications = medication_selectors.patient_medications(patient)
    for record in (diagnosis, *malignancies, *events, *medications):
        if record is not None:
            record.patient = patient

    rows_of_history = [*patient_selectors.patient_history_rows(patient),
                       *visit_selectors.visit_history_rows(patient),
                       *selectors.safety_history_rows(patient),
                       *medication_selectors.medications_history_rows(patient)] if with_history else []
    history = histories(rows_of_history)
    forms = patient_selectors.patient_forms(patient, diagnosis, malignancies, history)
    began_in = {ae.pk: row.label for row in rows for ae in row.adverse_events}
    cycles = [row.cycle for row in rows if row.cycle]
    eot = next((row.assessment for row in rows if row.cycle is None), None)
    return Casebook(
        patient=patient, review=state, enrolment=forms["patient"], diagnosis=forms["diagnosis"],
        malignancies=forms["malignancies"],
        cycles=[visit_selectors.cycle_forms(row, history) for row in rows if row.cycle],
        missed_cycles=visit_selectors.missed_cycle_forms(missed, history),
        end_of_treatment=visit_selectors.end_of_treatment_form(eot, history) if eot else None,
        adverse_events=[selectors.event_forms(e, history, began_in.get(e.pk, "")) for e in events],
        medications=medication_selectors.medication_forms(medications, history, _medication_title),
        change_log=change_entries(rows_of_history, record_label=_record_label(patient, cycles, events)),
    )
