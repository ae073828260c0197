"""Reads for the outcome report: every figure in a constant number of queries.

"Which rows" is ``datasets.cohort``; here the aggregates are computed in the
database (counts, sums, first/last infusion dates, the infusion days within the
dose tolerance from the stored ``Infusion.dose_within_tolerance``, groupings: one grouped query
per table, no per-patient subquery), the first and last assessments with their
count and CK nadir in one window query (at most two rows a patient), only the
plotted patients' CK series, the deviations open and resolved by kind (one
grouped query), the data cut (one query of scalar subqueries), and the
per-patient rules and the statistics (each once) in Python.
"""

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Count, F, Func, Max, Min, Q, Subquery, Sum, Window
from django.db.models.functions import RowNumber

from medications.models import ConcomitantMedication
from patients.models import MalignancyHistory
from patients.models import Diagnosis, Patient
from safety.models import AdverseEvent, Relatedness
from visits import rules as visit_rules
from visits.models import Assessment, DeviationKind, Infusion, MissedCycle, ProtocolDeviation, TreatmentCycle

from . import rules, statistics

CORE_FIELDS = ("id", "patient_id", "assessment_date", "mmt_total", "physician_global", "patient_global",
               "extramuscular_global", "haq", "ck_u_per_l", "ck_uln_u_per_l", "aldolase_u_per_l",
               "aldolase_uln_u_per_l", "ldh_u_per_l", "ldh_uln_u_per_l", "ast_u_per_l", "ast_uln_u_per_l",
               "alt_u_per_l", "alt_uln_u_per_l")


@dataclass
class PatientOutcome:
    subject_id: str
    site: str
    sex: str
    age: int
    kind: str | None
    status: str
    duration_months: Decimal | None
    cycles: int
    total_g: Decimal
    suspected_cause: str
    ck_baseline: Decimal | None = None
    ck_last: Decimal | None = None
    ck_nadir: Decimal | None = None
    ck_change_pct: Decimal | None = None
    ck_responder: bool = False
    mmt_baseline: int | None = None
    mmt_last: int | None = None
    mmt_change_pct: Decimal | None = None
    mmt_improved: bool = False
    tis: object = None
    imacs: bool | None = None
    assessments: int = 0
    missed: int = 0  # current missed-cycle records (months without infusion)


@dataclass
class Report:
    n: int
    patients: list
    baseline: dict
    exposure: dict
    outcomes: dict
    safety: dict
    ck_series: dict = field(default_factory=dict)
    ck_points: int = 0
    #: Concomitant medications of interest (stored flags, ``medications.services``).
    medications: dict = field(default_factory=dict)
    #: The data cut: the latest change (entry, correction, void) to any record of the cohort.
    data_cut: object = None
    #: Missing values of the assessments' measures, with their reasons (core.missing):
    #: [MissingValues] of the fields with at least one missing value.
    missing: list = field(default_factory=list)


#: The assessment measures whose missing values the report counts, with the reason.
MISSING_REPORTED = ("ck_u_per_l", "ck_uln_u_per_l", "aldolase_u_per_l", "ldh_u_per_l", "ast_u_per_l",
                    "alt_u_per_l", "physician_global", "patient_global", "extramuscular_global", "haq")


@dataclass
class MissingValues:
    label: str
    assessments: int  # current assessments of the cohort
    missing: int
    coded: list  # [(reason, n)]
    blank: int


def _missing_values(ids):
    """Per measure: how many current assessments have no value, by reason (one query)."""
    from core.missing import MissingCode
    from core.selectors import missing_counts

    counts = missing_counts(Assessment.objects.current().filter(patient__in=ids), MISSING_REPORTED)
    rows = []
    for name in MISSING_REPORTED:
        c = counts[name]
        coded = [(code.label, c[code.value]) for code in MissingCode if c[code.value]]
        missing = c["blank"] + sum(n for _, n in coded)
        if missing:
            rows.append(MissingValues(Assessment._meta.get_field(name).verbose_name, c["n"], missing, coded,
                                      c["blank"]))
    return rows


_AT = {name: i for i, name in enumerate(CORE_FIELDS)}
_CK, _MMT = _AT["ck_u_per_l"], _AT["mmt_total"]
_ENZYME_AT = [(name, _AT[f"{name}_u_per_l"], _AT[f"{name}_uln_u_per_l"]) for name in rules.ENZYMES]
_NO_INFUSION = (None, None, None, 0, 0)
_NO_ASSESSMENT = (0, 0, None)

#: The page plots at most this many patients' CK series (reporting.views.DETAIL_LIMIT).
DETAIL_LIMIT = 200


def spread(items, limit=DETAIL_LIMIT):
    """At most ``limit`` items, evenly spread over the sequence (first and last kept)."""
    n = len(items)
    if n <= limit:
        return list(items)
    return [items[round(i * (n - 1) / (limit - 1))] for i in range(limit)]


def _core_values(row):
    """The core-set values of an assessment row (a tuple of CORE_FIELDS)."""
    return {
        "physician_global": row[_AT["physician_global"]], "patient_global": row[_AT["patient_global"]],
        "mmt": row[_MMT], "haq": row[_AT["haq"]], "extramuscular": row[_AT["extramuscular_global"]],
        "enzymes": {name: (row[value], row[uln]) for name, value, uln in _ENZYME_AT},
    }


def outcome_report(patients, *, series_limit=DETAIL_LIMIT) -> Report:
    """Every table and plot of the report for a cohort (a Patient queryset).

    ``ck_series`` holds the CK over time of at most ``series_limit`` patients (those with a CK,
    evenly spread over the cohort: what the page plots; None: all), ``ck_points`` counts every
    CK value of the cohort. Every figure covers the whole cohort."""
    # 1. One row per patient, then its aggregates from one grouped query per table (correlated
    # subqueries per patient cost seconds at 10,000 patients). ``ids``: the cohort as a subquery
    # (a list of 10,000 ids in every IN () is slow to build and plan).
    ids = patients.order_by().values("pk")
    rows = list(patients.order_by("subject_id").values_list(
        "pk", "subject_id", "site__code", "sex", "age_at_enrolment", "disease_duration_months",
        "status", "diagnosis__kind", "suspected_cause"))
    # Infusions: first, last, total, and the exposure (days, days within the dose tolerance: the
    # fact visits.services stored with the rules of visits/rules.py) in the same pass.
    infusions = {r[0]: r[1:] for r in (
        Infusion.objects.filter(cycle__patient__in=ids).order_by().values("cycle__patient")
        .annotate(first=Min("infusion_date"), last=Max("infusion_date"), total=Sum("dose_g"), days=Count("pk"),
                  within=Count("pk", filter=Q(dose_within_tolerance=True)))
        .values_list("cycle__patient", "first", "last", "total", "days", "within"))}
    cycles = dict(TreatmentCycle.objects.filter(patient__in=ids).order_by().values("patient")
                  .annotate(n=Count("pk")).values_list("patient", "n"))
    # Missed cycles (visits.MissedCycle, current rows) per patient and reason, in one grouped query.
    missed, missed_reasons = Counter(), Counter()
    for patient_id, reason, n_missed in (MissedCycle.objects.current().filter(patient__in=ids).order_by()
                                         .values("patient", "reason").annotate(n=Count("pk"))
                                         .values_list("patient", "reason", "n")):
        missed[patient_id] += n_missed
        missed_reasons[reason] += n_missed
    # 2. The baseline (first) and last current assessment of every patient with their count, CK
    # nadir and number of CK values, in one query (window functions: at most two rows a patient).
    by_patient = Window(expression=Count("pk"), partition_by=[F("patient_id")])
    assessments = (
        Assessment.objects.current().filter(patient__in=ids).order_by()
        .annotate(
            first_rank=Window(RowNumber(), partition_by=[F("patient_id")], order_by=[F("assessment_date"), F("pk")]),
            last_rank=Window(RowNumber(), partition_by=[F("patient_id")],
                             order_by=[F("assessment_date").desc(), F("pk").desc()]),
            n=by_patient, ck_n=Window(Count("ck_u_per_l"), partition_by=[F("patient_id")]),
            nadir=Window(Min("ck_u_per_l"), partition_by=[F("patient_id")]))
        .filter(Q(first_rank=1) | Q(last_rank=1))
        .values_list(*CORE_FIELDS, "first_rank", "last_rank", "n", "ck_n", "nadir"))
    first_of, last_of, counts = {}, {}, {}
    for a in assessments:
        patient_id = a[1]
        if a[-5] == 1:
            first_of[patient_id] = a
        if a[-4] == 1:
            last_of[patient_id] = a
        counts[patient_id] = a[-3:]

    outcomes, ck_points, with_ck, days, within = [], 0, [], 0, 0
    ck_change = visit_rules.percent_change
    for (pk, subject, site, sex, age, duration, status, kind, cause) in rows:
        first, last, total, n_days, n_within = infusions.get(pk, _NO_INFUSION)
        days += n_days
        within += n_within
        n, ck_n, nadir = counts.get(pk, _NO_ASSESSMENT)
        ck_points += ck_n
        if ck_n:
            with_ck.append((subject, pk))
        o = PatientOutcome(
            subject_id=subject, site=site, sex=sex, age=age, kind=kind, status=status,
            duration_months=duration,  # (stored facts: patients.services)
            cycles=cycles.get(pk, 0), total_g=total or Decimal(0), suspected_cause=cause,
            assessments=n, ck_nadir=nadir, missed=missed.get(pk, 0),
        )
        base, end = first_of.get(pk), last_of.get(pk)
        if base:
            o.ck_baseline, o.mmt_baseline = base[_CK], base[_MMT]
        if end:
            o.ck_last, o.mmt_last = end[_CK], end[_MMT]
        o.ck_change_pct = ck_change(o.ck_baseline, o.ck_last)
        o.ck_responder = rules.ck_responder(o.ck_baseline, o.ck_last)
        o.mmt_change_pct = ck_change(o.mmt_baseline, o.mmt_last)
        o.mmt_improved = rules.mmt_improved(o.mmt_baseline, o.mmt_last)
        if base and end and base[0] != end[0]:
            changes = rules.core_set_changes(_core_values(base), _core_values(end))
            o.tis = rules.total_improvement_score(changes)
            o.imacs = rules.imacs_improved(changes)
        outcomes.append(o)
    n = len(outcomes)

    # 3. Malignancies by their stored timing (patients.services), and the patients with one.
    timing, with_malignancy = Counter(), set()
    for patient_id, when in (MalignancyHistory.objects.current().filter(patient_id__in=ids).order_by()
                             .values_list("patient_id", "timing")):
        timing[when] += 1
        with_malignancy.add(patient_id)

    # 4. Deviations by kind: open (the unresolved end of each chain) and resolved, from the stored
    # ``resolved_at`` of the log's rows (DeviationQuerySet.current), in one grouped query.
    deviations = {kind: (n_open, n_resolved) for kind, n_open, n_resolved in (
        ProtocolDeviation.objects.current().filter(patient_id__in=ids).order_by().values("kind")
        .annotate(n_open=Count("pk", filter=Q(resolved_at__isnull=True)),
                  n_resolved=Count("pk", filter=Q(resolved_at__isnull=False)))
        .values_list("kind", "n_open", "n_resolved"))}

    # 5. Safety: one grouped query and one distinct count.
    ae_groups = list(AdverseEvent.objects.current().filter(patient_id__in=ids).order_by()
                     .values("grade", "serious", "relatedness").annotate(n=Count("pk")))
    ae_patients = (AdverseEvent.objects.current().filter(patient_id__in=ids)
                   .values("patient_id").distinct().count())

    # 6. Concomitant medications of interest, from their stored flags (medications.services):
    # one query.
    medications = _medications(ConcomitantMedication.objects.current().filter(patient_id__in=ids), n)

    # 7. CK over time for the plot: only the plotted patients' values (evenly spread over the
    # patients with a CK, in subject order), not the whole cohort's.
    plotted = sorted(with_ck) if series_limit is None else spread(sorted(with_ck), series_limit)
    series = {subject: [] for subject, _ in plotted}
    if plotted:
        subject_of = dict((pk, subject) for subject, pk in plotted)
        for patient_id, when, ck in (Assessment.objects.current()
                                     .filter(patient_id__in=list(subject_of), ck_u_per_l__isnull=False)
                                     .order_by("patient_id", "assessment_date")
                                     .values_list("patient_id", "assessment_date", "ck_u_per_l")):
            series[subject_of[patient_id]].append((when, ck))

    return Report(
        n=n, patients=outcomes,
        baseline=_baseline_table(outcomes, timing, len(with_malignancy)),
        exposure=_exposure(outcomes, within, days, deviations, missed_reasons),
        outcomes=_outcome_summary(outcomes),
        safety=_safety(ae_groups, ae_patients, n),
        ck_series=series, ck_points=ck_points, data_cut=_data_cut(ids), medications=medications,
        missing=_missing_values(ids),
    )


def _latest_change(queryset):
    """``MAX(updated_at)`` of a queryset as a scalar subquery (a plain function, not an
    aggregate: no GROUP BY)."""
    return Subquery(queryset.order_by().annotate(latest=Func(F("updated_at"), function="MAX"))
                    .values("latest")[:1])


def _data_cut(ids):
    """The data cut of the cohort in one query: the latest ``updated_at`` (a first entry, a
    correction or a void: every write of ``record_save`` sets it) over the cohort's patients and
    every record beneath them, voided ones included. None for an empty cohort."""
    sources = {
        "patients": Patient.objects.filter(pk__in=ids),
        "diagnoses": Diagnosis.objects.filter(patient__in=ids),
        "malignancies": MalignancyHistory.objects.filter(patient__in=ids),
        "cycles": TreatmentCycle.objects.filter(patient__in=ids),
        "assessments": Assessment.objects.filter(patient__in=ids),
        "infusions": Infusion.objects.filter(cycle__patient__in=ids),
        "adverse_events": AdverseEvent.objects.filter(patient__in=ids),
        "deviations": ProtocolDeviation.objects.filter(patient__in=ids),
        "medications": ConcomitantMedication.objects.filter(patient__in=ids),
    }
    row = (Patient.objects.filter(pk__in=ids).order_by()
           .annotate(**{f"cut_{name}": _latest_change(qs) for name, qs in sources.items()})
           .values_list(*(f"cut_{name}" for name in sources))[:1])
    times = [t for r in row for t in r if t is not None]
    return max(times) if times else None


def _baseline_table(outcomes, timing, with_malignancy):
    return {
        "n": len(outcomes),
        "women": sum(o.sex == "F" for o in outcomes),
        "men": sum(o.sex == "M" for o in outcomes),
        "age": statistics.summarise(o.age for o in outcomes),
        "duration": statistics.summarise(o.duration_months for o in outcomes),
        "pm": sum(o.kind == "PM" for o in outcomes),
        "dm": sum(o.kind == "DM" for o in outcomes),
        "no_diagnosis": sum(o.kind is None for o in outcomes),
        "with_malignancy": with_malignancy,
        "malignancy_timing": {k: timing.get(k, 0) for k in ("before", "during", "after")},
        "viral": sum(o.suspected_cause == "viral" for o in outcomes),
        "drug": sum(o.suspected_cause == "drug" for o in outcomes),
        "ck": statistics.summarise(o.ck_baseline for o in outcomes),
        "mmt": statistics.summarise(o.mmt_baseline for o in outcomes),
    }


def _exposure(outcomes, within, days, deviations, missed_reasons=None):
    missed_reasons = missed_reasons or Counter()
    given = sum(o.cycles for o in outcomes)
    missed = sum(o.missed for o in outcomes)
    return {
        "cycles": statistics.summarise(o.cycles for o in outcomes),
        # Cycles planned = given + missed (a missed-cycle record replaces a planned cycle).
        "cycles_given": given, "cycles_missed": missed, "cycles_planned": given + missed,
        "given_pct": (100 * given / (given + missed)) if given + missed else None,
        "missed_patients": sum(1 for o in outcomes if o.missed),
        "missed_by_reason": [(label, missed_reasons.get(value, 0)) for value, label in
                             visit_rules.MissedCycleReason.choices],
        "total_g": sum((o.total_g for o in outcomes), Decimal(0)),
        "days": days, "within": within,
        "within_pct": (100 * within / days) if days else None,
        # (label, open, resolved) per kind; the open ones are what is still to be dealt with.
        "deviations": [(label, *deviations.get(value, (0, 0))) for value, label in DeviationKind.choices],
        "deviations_open": sum(n_open for n_open, _ in deviations.values()),
        "deviations_resolved": sum(n_resolved for _, n_resolved in deviations.values()),
    }


def _outcome_summary(outcomes):
    n = len(outcomes)
    with_both_ck = [o for o in outcomes if o.ck_baseline is not None and o.ck_last is not None]
    with_both_mmt = [o for o in outcomes if o.mmt_baseline is not None and o.mmt_last is not None]
    tis_computable = [o for o in outcomes if o.tis is not None]
    return {
        "ck_responders": statistics.proportion(sum(o.ck_responder for o in outcomes), n),
        "mmt_improved": statistics.proportion(sum(o.mmt_improved for o in outcomes), n),
        "ck_test": statistics.wilcoxon_paired([o.ck_baseline for o in with_both_ck],
                                              [o.ck_last for o in with_both_ck]),
        "ck_t": statistics.paired_t([o.ck_baseline for o in with_both_ck], [o.ck_last for o in with_both_ck]),
        "ck_log_t": statistics.paired_t_log([o.ck_baseline for o in with_both_ck],
                                            [o.ck_last for o in with_both_ck]),
        "mmt_test": statistics.wilcoxon_paired([o.mmt_baseline for o in with_both_mmt],
                                               [o.mmt_last for o in with_both_mmt]),
        "ck_baseline": statistics.summarise(o.ck_baseline for o in with_both_ck),
        "ck_last": statistics.summarise(o.ck_last for o in with_both_ck),
        "mmt_baseline": statistics.summarise(o.mmt_baseline for o in with_both_mmt),
        "mmt_last": statistics.summarise(o.mmt_last for o in with_both_mmt),
        "tis_computable": len(tis_computable),
        "tis_levels": Counter(o.tis.level for o in tis_computable),
        "tis": statistics.summarise(o.tis.score for o in tis_computable),
        "imacs": statistics.proportion(sum(bool(o.imacs) for o in tis_computable), len(tis_computable)),
        "ck_fall_threshold_pct": int(rules.CK_RESPONSE_FALL * 100),
        "mmt_threshold_pct": int(rules.MMT_IMPROVEMENT * 100),
    }


@dataclass(frozen=True)
class MedicationRow:
    subject_id: str
    drug_name: str
    atc_code: str
    start_date: object
    corticosteroid: bool
    immunosuppressant: bool


def _medications(current, n):
    """Patients started on a corticosteroid / an immunosuppressant during the study (k/n with
    the exact CI) with the list of those medications; patients ever on a statin or an
    oestrogen (risk flags). One query, from the stored flags."""
    rows = list(current.filter(Q(is_corticosteroid=True) | Q(is_immunosuppressant=True) | Q(is_statin=True)
                               | Q(is_oestrogen=True))
                .order_by("patient__subject_id", "start_date", "pk")
                .values_list("patient_id", "patient__subject_id", "drug_name", "atc_code", "start_date",
                             "is_corticosteroid", "is_immunosuppressant", "is_statin", "is_oestrogen",
                             "started_during_study"))
    cortico, immuno, statin, oestrogen, started = set(), set(), set(), set(), []
    for pk, subject, drug, code, start, is_cortico, is_immuno, is_statin, is_oestrogen, during in rows:
        if during and is_cortico:
            cortico.add(pk)
        if during and is_immuno:
            immuno.add(pk)
        if is_statin:
            statin.add(pk)
        if is_oestrogen:
            oestrogen.add(pk)
        if during and (is_cortico or is_immuno):
            started.append(MedicationRow(subject, drug, code, start, is_cortico, is_immuno))
    return {
        "corticosteroid_started": statistics.proportion(len(cortico), n),
        "immunosuppressant_started": statistics.proportion(len(immuno), n),
        "statin": len(statin), "oestrogen": len(oestrogen),
        "started": started,
    }


def _safety(groups, patients_with_ae, n):
    by_grade, by_relatedness = Counter(), Counter()
    serious = total = 0
    for g in groups:
        by_grade[g["grade"]] += g["n"]
        by_relatedness[g["relatedness"]] += g["n"]
        serious += g["n"] if g["serious"] else 0
        total += g["n"]
    return {
        "patients": statistics.proportion(patients_with_ae, n),
        "total": total, "serious": serious,
        "by_grade": [(grade, by_grade.get(grade, 0)) for grade in range(1, 6)],
        "by_relatedness": [(label, by_relatedness.get(value, 0)) for value, label in Relatedness.choices],
    }
