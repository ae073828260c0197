"""Reads for the outcome report: every figure in a constant number of queries.

"Which rows" is ``datasets.cohort``; here the aggregates are computed in the
database (counts, sums, first/last infusion dates, groupings: one grouped query
per table, no per-patient subquery), the first/last/nadir assessments in one
ordered pass, and the per-patient formatting and the statistics in Python.
"""

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Count, Max, Min, Sum

from patients import rules as patient_rules
from patients.models import MalignancyHistory, PatientStatus
from safety.models import AdverseEvent, Relatedness
from visits import rules as visit_rules
from visits.models import Assessment, DeviationKind, DosingBasis, Infusion, ProtocolDeviation, TreatmentCycle

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


@dataclass
class Report:
    n: int
    patients: list
    baseline: dict
    exposure: dict
    outcomes: dict
    safety: dict
    ck_series: dict = field(default_factory=dict)


def _core_values(row):
    if row is None:
        return {}
    return {
        "physician_global": row["physician_global"], "patient_global": row["patient_global"],
        "mmt": row["mmt_total"], "haq": row["haq"], "extramuscular": row["extramuscular_global"],
        "enzymes": {name: (row[f"{name}_u_per_l"], row[f"{name}_uln_u_per_l"]) for name in rules.ENZYMES},
    }


def outcome_report(patients) -> Report:
    """Every table and plot of the report for a cohort (a Patient queryset)."""
    # 1. One row per patient, then its aggregates from one grouped query per table (correlated
    # subqueries per patient cost seconds at 10,000 patients).
    ids = patients.order_by().values("pk")
    rows = list(patients.order_by("subject_id").values(
        "pk", "subject_id", "site__code", "sex", "birth_year", "birth_date", "enrolment_date",
        "symptom_onset_date", "status", "diagnosis__kind", "suspected_cause"))
    infusions = {r["cycle__patient"]: r for r in (
        Infusion.objects.filter(cycle__patient__in=ids).order_by().values("cycle__patient")
        .annotate(first=Min("infusion_date"), last=Max("infusion_date"), total=Sum("dose_g")))}
    cycles = dict(TreatmentCycle.objects.filter(patient__in=ids).order_by().values("patient")
                  .annotate(n=Count("pk")).values_list("patient", "n"))
    per_patient = defaultdict(lambda: {"n": 0, "nadir": None, "first": None, "last": None})
    for patient_id, pk, ck in (Assessment.objects.current().filter(patient__in=ids)
                               .order_by("patient_id", "assessment_date", "pk")
                               .values_list("patient_id", "pk", "ck_u_per_l").iterator(chunk_size=5000)):
        a = per_patient[patient_id]
        a["n"] += 1
        a["first"] = a["first"] or pk
        a["last"] = pk
        if ck is not None and (a["nadir"] is None or ck < a["nadir"]):
            a["nadir"] = ck
    for r in rows:
        inf, a = infusions.get(r["pk"], {}), per_patient.get(r["pk"], {})
        r.update(first_inf=inf.get("first"), last_inf=inf.get("last"), total_g=inf.get("total"),
                 n_cycles=cycles.get(r["pk"], 0), n_assessments=a.get("n", 0), ck_nadir=a.get("nadir"),
                 baseline_id=a.get("first"), last_id=a.get("last"))
    # (``ids``, the cohort as a subquery: a list of 10,000 ids in every IN () is slow to build and plan.)
    # 2. The baseline and last assessments, in one query.
    wanted = {r["baseline_id"] for r in rows} | {r["last_id"] for r in rows}
    assessments = {a["id"]: a for a in Assessment.objects.filter(pk__in=wanted - {None}).values(*CORE_FIELDS)}

    outcomes = []
    for r in rows:
        base, last = assessments.get(r["baseline_id"]), assessments.get(r["last_id"])
        first = r["first_inf"]
        o = PatientOutcome(
            subject_id=r["subject_id"], site=r["site__code"], sex=r["sex"],
            age=patient_rules.age_at(r["enrolment_date"], r["birth_year"], r["birth_date"]),
            kind=r["diagnosis__kind"], status=r["status"],
            duration_months=patient_rules.disease_duration_months(r["symptom_onset_date"], first) if first else None,
            cycles=r["n_cycles"], total_g=r["total_g"] or Decimal(0), suspected_cause=r["suspected_cause"],
            assessments=r["n_assessments"], ck_nadir=r["ck_nadir"],
        )
        if base:
            o.ck_baseline, o.mmt_baseline = base["ck_u_per_l"], base["mmt_total"]
        if last:
            o.ck_last, o.mmt_last = last["ck_u_per_l"], last["mmt_total"]
        o.ck_change_pct = visit_rules.percent_change(o.ck_baseline, o.ck_last)
        o.ck_responder = rules.ck_responder(o.ck_baseline, o.ck_last)
        o.mmt_change_pct = visit_rules.percent_change(o.mmt_baseline, o.mmt_last)
        o.mmt_improved = rules.mmt_improved(o.mmt_baseline, o.mmt_last)
        if base and last and base["id"] != last["id"]:
            changes = rules.core_set_changes(_core_values(base), _core_values(last))
            o.tis = rules.total_improvement_score(changes)
            o.imacs = rules.imacs_improved(changes)
        outcomes.append(o)
    n = len(outcomes)

    # 3. Malignancies and their timing.
    by_patient = {r["pk"]: r for r in rows}
    timing = Counter()
    with_malignancy = set()
    for patient_id, diagnosed in (MalignancyHistory.objects.current().filter(patient_id__in=ids)
                                  .values_list("patient_id", "diagnosis_date")):
        r = by_patient[patient_id]
        end = r["last_inf"] if r["status"] in (PatientStatus.COMPLETED, PatientStatus.WITHDRAWN) else None
        timing[patient_rules.malignancy_timing(diagnosed, r["first_inf"], end).value] += 1
        with_malignancy.add(patient_id)

    # 4. Exposure: infusion days within the dose tolerance (the prescription needs the
    # patient's sex for adjusted weight), deviations by kind.
    within = days = 0
    prescriptions = {}  # (basis, weight, height, sex) -> prescribed daily dose: day 1 and day 2 share it
    for dose, weight, height, basis, sex in (
            Infusion.objects.filter(cycle__patient_id__in=ids)
            .values_list("dose_g", "cycle__weight_kg", "cycle__height_cm", "cycle__dosing_basis",
                         "cycle__patient__sex").iterator(chunk_size=5000)):
        days += 1
        if weight and (basis == DosingBasis.ACTUAL or height):
            key = (basis, weight, height, sex)
            prescribed = prescriptions.get(key)
            if prescribed is None:
                prescribed = prescriptions[key] = visit_rules.prescribed_daily_dose_g(
                    visit_rules.dosing_weight_kg(basis, weight_kg=weight, height_cm=height, sex=sex))
            within += visit_rules.dose_deviation(day=1, given_g=dose, prescribed_g=prescribed) is None
    deviations = dict(ProtocolDeviation.objects.filter(patient_id__in=ids).order_by()
                      .values_list("kind").annotate(n=Count("pk")))

    # 5. Safety: one grouped query and one distinct count.
    ae_groups = list(AdverseEvent.objects.current().filter(patient_id__in=ids).order_by()
                     .values("grade", "serious", "relatedness").annotate(n=Count("pk")))
    ae_patients = (AdverseEvent.objects.current().filter(patient_id__in=ids)
                   .values("patient_id").distinct().count())

    # 6. CK over time for the plot.
    series = defaultdict(list)
    for subject, when, ck in (Assessment.objects.current().filter(patient_id__in=ids, ck_u_per_l__isnull=False)
                              .order_by("patient__subject_id", "assessment_date")
                              .values_list("patient__subject_id", "assessment_date", "ck_u_per_l")):
        series[subject].append((when, ck))

    return Report(
        n=n, patients=outcomes,
        baseline=_baseline_table(outcomes, timing, len(with_malignancy)),
        exposure=_exposure(outcomes, within, days, deviations),
        outcomes=_outcome_summary(outcomes),
        safety=_safety(ae_groups, ae_patients, n),
        ck_series=dict(series),
    )


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


def _exposure(outcomes, within, days, deviations):
    return {
        "cycles": statistics.summarise(o.cycles for o in outcomes),
        "total_g": sum((o.total_g for o in outcomes), Decimal(0)),
        "days": days, "within": within,
        "within_pct": (100 * within / days) if days else None,
        "deviations": [(label, deviations.get(value, 0)) for value, label in DeviationKind.choices],
        "deviations_total": sum(deviations.values()),
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
