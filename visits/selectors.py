"""Reads for the visits app: every one is scoped to the user's sites."""

from dataclasses import dataclass, field
from decimal import Decimal

from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _

from accounts.scoping import scope_to_user_sites
from core.crf import case_report_form, history_rows

from . import rules
from .models import Assessment, AssessmentTimepoint, Infusion, MissedCycle, ProtocolDeviation, TreatmentCycle


def cycle_get(*, user, patient, number):
    qs = TreatmentCycle.objects.select_related("patient").prefetch_related("infusions")
    return get_object_or_404(qs, patient=patient, number=number)


def previous_cycle(patient, *, number=None):
    """The patient's cycle before cycle ``number`` (the last one when None), with its pre-treatment
    assessment and its infusions (``infusions_by_day``): what a new cycle carries forward and the
    start its visit window is counted from. Two queries, whatever the patient's history; None for
    a first cycle."""
    cycles = TreatmentCycle.objects.filter(patient=patient).select_related("assessment")
    if number is not None:
        cycles = cycles.filter(number__lt=number)
    cycle = cycles.order_by("-number").first()
    if cycle is not None:
        cycle.infusions_by_day = {infusion.day: infusion for infusion in cycle.infusions.all()}
    return cycle


def previous_cycle_start(patient, *, number=None):
    """The start date of the patient's cycle before cycle ``number`` (the last one when None)."""
    cycles = TreatmentCycle.objects.filter(patient=patient)
    if number is not None:
        cycles = cycles.filter(number__lt=number)
    return cycles.order_by("-number").values_list("start_date", flat=True).first()


def end_of_treatment_get(patient):
    return (Assessment.objects.current()
            .filter(patient=patient, timepoint=AssessmentTimepoint.END_OF_TREATMENT).first())


def deviation_list(*, user):
    """The deviation log of the user's sites, latest first; a list filters it with
    ``visits.filters.DeviationFilterSet``."""
    qs = scope_to_user_sites(
        ProtocolDeviation.objects.current().select_related("patient", "patient__site", "cycle"),
        user, site_field="patient__site")
    return qs.order_by("-detected_at", "-pk")


@dataclass
class TimelineRow:
    label: str
    cycle: object = None
    assessment: object = None
    planned_date: object = None
    infusions: list = field(default_factory=list)
    deviations: list = field(default_factory=list)
    adverse_events: list = field(default_factory=list)
    ck_change_pct: Decimal | None = None
    mmt_change_pct: Decimal | None = None
    given_total_g: Decimal | None = None
    signature: object = None
    signature_valid: bool = False
    verification: object = None
    queries: list = field(default_factory=list)
    urls: dict = field(default_factory=dict)  # the row's links (TimelineView)

    @property
    def date(self):
        return self.cycle.start_date if self.cycle else (self.assessment.assessment_date if self.assessment else None)


def patient_timeline(patient, adverse_events=()):
    """One row per cycle and the end-of-treatment visit, in four queries
    whatever the number of cycles: cycles with their assessments, infusions,
    deviations, and the end-of-treatment assessment. ``adverse_events`` (a
    list the caller fetched) are placed on the cycle during which they began.
    """
    cycles = list(TreatmentCycle.objects.filter(patient=patient).order_by("number")
                  .select_related("assessment"))
    # Infusions and deviations grouped by hand (what prefetch_related would fetch, without its
    # per-lookup machinery: a third of this function's time).
    by_cycle = {cycle.pk: cycle for cycle in cycles}
    infusions, deviations = {pk: [] for pk in by_cycle}, {pk: [] for pk in by_cycle}
    if cycles:
        for infusion in Infusion.objects.filter(cycle_id__in=by_cycle).order_by("day"):
            infusion.cycle = by_cycle[infusion.cycle_id]
            infusions[infusion.cycle_id].append(infusion)
        for deviation in (ProtocolDeviation.objects.current().filter(cycle_id__in=by_cycle)
                          .order_by("resolved_at", "day")):
            deviation.cycle = by_cycle[deviation.cycle_id]
            deviations[deviation.cycle_id].append(deviation)
    for cycle in cycles:
        cycle.patient = patient  # (the label reads the subject id)
    eot = end_of_treatment_get(patient)

    rows = []
    for cycle in cycles:
        try:
            assessment = cycle.assessment
        except Assessment.DoesNotExist:
            assessment = None
        cycle_infusions = infusions[cycle.pk]
        rows.append(TimelineRow(
            label=_("Cycle %(number)s") % {"number": cycle.number}, cycle=cycle, assessment=assessment,
            planned_date=cycle.planned_start_date, infusions=cycle_infusions,
            deviations=deviations[cycle.pk],
            given_total_g=(sum((i.dose_g for i in cycle_infusions), Decimal("0")) if cycle_infusions
                           else None),
        ))
    if eot is not None:
        rows.append(TimelineRow(label=_("End of treatment"), assessment=eot))

    baseline = rows[0].assessment if rows and rows[0].assessment else None
    for row in rows:
        if baseline and row.assessment:
            row.ck_change_pct = rules.percent_change(baseline.ck_u_per_l, row.assessment.ck_u_per_l)
            row.mmt_change_pct = rules.percent_change(baseline.mmt_total, row.assessment.mmt_total)

    # Each AE goes to the row during which it began (before the next row's date).
    starts = [row.date for row in rows]
    for ae in adverse_events:
        index = 0
        for i, start in enumerate(starts):
            if start and ae.onset_date >= start:
                index = i
        if rows:
            rows[index].adverse_events.append(ae)
    return rows, baseline


def timeline_review_hashes(patient, rows, state):
    """``{(model name, pk): hash}`` of the current data of the timeline's cycles and
    of the casebook, for the signatures and verifications in ``state``: the cycles
    from the rows already loaded (no query), the casebook (only when it carries a
    signature) in a constant number of queries."""
    if not state.rows:
        return {}
    from core.fingerprint import data_hash

    cycles = [row for row in rows if row.cycle is not None]
    payloads = [row.cycle.signature_payload(infusions=row.infusions) for row in cycles]
    hashes = {("treatmentcycle", row.cycle.pk): data_hash(payload) for row, payload in zip(cycles, payloads)}
    if state.signature(patient) is not None:
        casebook = (type(patient).objects.select_related("diagnosis")
                    .prefetch_related("malignancies", "adverse_events", "assessments").get(pk=patient.pk))
        hashes[("patient", patient.pk)] = data_hash(casebook.signature_payload(cycles=payloads))
    return hashes


def ck_chart(rows, width=640, height=220, pad=40):
    """Points of an SVG chart of CK (log scale) over time, from the timeline rows."""
    import math

    points = [(row.assessment.assessment_date, float(row.assessment.ck_u_per_l), row.label)
              for row in rows if row.assessment and row.assessment.ck_u_per_l is not None
              and row.assessment.ck_u_per_l > 0]
    uln = next((float(r.assessment.ck_uln_u_per_l) for r in rows
                if r.assessment and r.assessment.ck_uln_u_per_l), None)
    if len(points) < 1:
        return None
    first, last = points[0][0], points[-1][0]
    span = max((last - first).days, 1)
    values = [p[1] for p in points] + ([uln] if uln else [])
    lo, hi = math.log10(min(values)) - 0.1, math.log10(max(values)) + 0.1

    def x(day):
        return pad + (width - 2 * pad) * (day - first).days / span

    def y(value):
        return height - pad - (height - 2 * pad) * (math.log10(value) - lo) / (hi - lo)

    ticks = [t for t in (10, 30, 100, 300, 1000, 3000, 10000, 30000)
             if lo <= math.log10(t) <= hi]
    return {
        "width": width, "height": height, "pad": pad,
        "points": [{"x": round(x(d), 1), "y": round(y(v), 1), "value": int(v), "label": label,
                    "date": d} for d, v, label in points],
        "polyline": " ".join(f"{x(d):.1f},{y(v):.1f}" for d, v, _ in points),
        "uln_y": round(y(uln), 1) if uln else None, "uln": int(uln) if uln else None,
        "ticks": [{"y": round(y(t), 1), "value": t} for t in ticks],
        "x_end": width - pad, "y_end": height - pad,
    }


# --- Read-only case report forms (core.crf) -----------------------------------------------

@dataclass
class CycleForms:
    """One cycle as read-only forms: the visit, its pre-treatment assessment and its
    infusions (``core.crf.CaseReportForm``), with the timeline row they came from
    (its deviations, adverse events, review state)."""

    row: TimelineRow
    cycle: object
    assessment: object = None
    infusions: list = field(default_factory=list)

    @property
    def number(self):
        return self.row.cycle.number

    @property
    def forms(self):
        return [self.cycle, *([self.assessment] if self.assessment else []), *self.infusions]


def visit_history_rows(patient, cycle=None):
    """The history rows of the patient's cycles, assessments (the end-of-treatment visit
    too) and infusions, or of one ``cycle``'s: three queries."""
    if cycle is not None:
        return [*history_rows(TreatmentCycle, id=cycle.pk), *history_rows(Assessment, cycle_id=cycle.pk),
                *history_rows(Infusion, cycle_id=cycle.pk)]
    return [*history_rows(TreatmentCycle, patient_id=patient.pk), *history_rows(Assessment, patient_id=patient.pk),
            *history_rows(Infusion, cycle__patient_id=patient.pk), *history_rows(MissedCycle, patient_id=patient.pk)]


def patient_missed_cycles(patient):
    """The patient's missed cycles (voided ones too, shown struck through), by planned date: one query."""
    missed = list(MissedCycle.objects.filter(patient=patient).order_by("planned_date", "pk"))
    for m in missed:
        m.patient = patient
    return missed


def missed_cycle_forms(missed, history):
    """The read-only forms of the missed cycles (no query)."""
    return [case_report_form(m, title=_("Missed cycle planned %(date)s") % {"date": rules.show_date(m.planned_date)},
                             history=history)
            for m in missed]


def cycle_forms(row, history):
    """The read-only forms of a timeline ``row``'s cycle (no query: the row holds them)."""
    number = row.cycle.number
    for infusion in row.infusions:
        infusion.cycle = row.cycle
    return CycleForms(
        row=row,
        cycle=case_report_form(row.cycle, title=_("Cycle %(number)s: visit") % {"number": number}, history=history),
        assessment=(case_report_form(row.assessment,
                                     title=_("Cycle %(number)s: pre-treatment assessment") % {"number": number},
                                     history=history) if row.assessment else None),
        infusions=[case_report_form(i, title=_("Cycle %(number)s: day %(day)s infusion") % {"number": number,
                                                                                          "day": i.day},
                                    history=history)
                   for i in row.infusions],
    )


def end_of_treatment_form(assessment, history):
    return case_report_form(assessment, title=_("End-of-treatment visit"), history=history)


def cycle_row(patient, number):
    """One cycle as a :class:`TimelineRow` (its assessment, infusions, current deviations):
    three queries, or 404."""
    cycle = get_object_or_404(TreatmentCycle.objects.select_related("assessment"), patient=patient, number=number)
    cycle.patient = patient
    try:
        assessment = cycle.assessment
    except Assessment.DoesNotExist:
        assessment = None
    infusions = list(Infusion.objects.filter(cycle=cycle).order_by("day"))
    deviations = list(cycle.deviations.current().order_by("resolved_at", "day"))
    for item in (*infusions, *deviations):
        item.cycle = cycle
    return TimelineRow(label=_("Cycle %(number)s") % {"number": cycle.number}, cycle=cycle, assessment=assessment,
                       planned_date=cycle.planned_start_date, infusions=infusions, deviations=deviations)


def missed_cycle_get(*, user, patient_pk, pk):
    """One missed cycle of a patient of the user's sites (404 otherwise)."""
    qs = scope_to_user_sites(MissedCycle.objects.select_related("patient", "patient__site"),
                             user, site_field="patient__site")
    return get_object_or_404(qs, pk=pk, patient_id=patient_pk)
