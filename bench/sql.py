"""Hand-written SQL the benchmarks compare the app with.

COPY_QUERIES: the rows of each table of the CSV export (exchange/datasets.py),
with the same joins, filters and order. The derived facts (age, treatment
dates, disease duration; rash, Bohan & Peter certainty, age at onset,
EULAR/ACR score and class; malignancy timing; planned start, dosing weight,
prescribed dose, rate per kg) are the columns patients.services and
visits.services stored with the rules: read, never restated here.

REPORT_SQL: one query for the figures of the outcome report
(reporting/selectors.py outcome_report): baseline table (the stored age,
disease duration and malignancy timing), exposure (with the infusion days
within the dose tolerance: the stored judgement), CK and MMT outcomes,
safety. The responder thresholds are reporting.rules' constants, written into
the SQL from there (not copied). What SQL does not do is left to the app: the
exact tests and confidence intervals (SciPy), the total improvement score,
the plots.
"""

from reporting import rules as report_rules

#: The report's response thresholds as SQL numeric literals (Decimal's str is exact).
CK_RESPONSE_FALL = f"{report_rules.CK_RESPONSE_FALL}::numeric"
MMT_IMPROVEMENT_FACTOR = f"{1 + report_rules.MMT_IMPROVEMENT}::numeric"

MMT = ("mmt_neck_flexors, mmt_deltoid, mmt_biceps, mmt_wrist_extensors, mmt_gluteus_maximus, "
       "mmt_gluteus_medius, mmt_quadriceps, mmt_ankle_dorsiflexors")
LABS = ("ck_u_per_l, ck_lln_u_per_l, ck_uln_u_per_l, aldolase_u_per_l, aldolase_uln_u_per_l, ldh_u_per_l, "
        "ldh_uln_u_per_l, ast_u_per_l, ast_uln_u_per_l, alt_u_per_l, alt_uln_u_per_l")
SCORES = "physician_global, patient_global, extramuscular_global, haq"
DX_FLAGS = ("bp_weakness, bp_biopsy, bp_enzymes, bp_emg, heliotrope_rash, gottron_papules, gottron_sign, "
            "upper_limb_weakness, lower_limb_weakness, neck_flexors_weaker, legs_proximal_weaker, dysphagia, "
            "anti_jo1, biopsy_performed, biopsy_endomysial_infiltrate, biopsy_perimysial_infiltrate, "
            "biopsy_perifascicular_atrophy, biopsy_rimmed_vacuoles")
SERIOUS = ("serious_death, serious_life_threatening, serious_hospitalisation, serious_disability, "
           "serious_congenital_anomaly, serious_medically_important")

#: The deviation log (``ProtocolDeviation.objects.current()``): a superseded row, unresolved
#: with a successor, is left out.
CURRENT_DEVIATION = ("(d.resolved_at IS NOT NULL OR NOT EXISTS "
                     "(SELECT 1 FROM visits_protocoldeviation s WHERE s.predecessor_id = d.id))")

COPY_QUERIES = {
    "patients": f"""
        SELECT p.subject_id, s.code, p.sex, p.age_at_enrolment, p.race, p.consent_date, p.enrolment_date,
               p.symptom_onset_date, p.first_infusion_date, p.disease_duration_months,
               p.steroid_contraindication, p.renal_risk, p.renal_risk_since, p.thrombotic_risk,
               p.thrombotic_risk_since, p.suspected_cause, p.suspected_cause_detail, p.status,
               p.withdrawal_date, p.withdrawal_reason
        FROM patients_patient p JOIN accounts_site s ON s.id = p.site_id
        ORDER BY p.subject_id""",
    "diagnoses": f"""
        SELECT p.subject_id, d.kind, d.diagnosis_date, {", ".join("d." + f for f in DX_FLAGS.split(", "))},
               d.rash, d.certainty, p.age_at_onset, d.eular_acr_score, d.eular_acr_class
        FROM patients_diagnosis d JOIN patients_patient p ON p.id = d.patient_id
        ORDER BY p.subject_id""",
    "malignancies": """
        SELECT p.subject_id, m.malignancy_type, m.diagnosis_date, m.status, m.certainty, m.timing
        FROM patients_malignancyhistory m JOIN patients_patient p ON p.id = m.patient_id
        WHERE m.voided_at IS NULL
        ORDER BY p.subject_id, m.diagnosis_date, m.id""",
    "cycles": """
        SELECT p.subject_id, c.number, c.start_date, c.planned_start_date, c.weight_kg, c.height_cm,
               c.dosing_basis, c.dosing_weight_kg, c.prescribed_daily_dose_g
        FROM visits_treatmentcycle c JOIN patients_patient p ON p.id = c.patient_id
        ORDER BY p.subject_id, c.number""",
    "assessments": f"""
        SELECT p.subject_id, c.number, a.timepoint, a.assessment_date, a.mmt_scale, {MMT}, a.mmt_total,
               {LABS}, {SCORES}
        FROM visits_assessment a JOIN patients_patient p ON p.id = a.patient_id
             LEFT JOIN visits_treatmentcycle c ON c.id = a.cycle_id
        WHERE a.voided_at IS NULL
        ORDER BY p.subject_id, a.assessment_date, a.id""",
    "infusions": """
        SELECT p.subject_id, c.number, i.day, i.infusion_date, i.start_time, i.end_time, i.product, i.lot,
               i.concentration_pct, i.volume_ml, i.dose_g, i.prescribed_dose_g, i.max_rate_ml_per_h,
               i.rate_ml_per_kg_min
        FROM visits_infusion i JOIN visits_treatmentcycle c ON c.id = i.cycle_id
             JOIN patients_patient p ON p.id = c.patient_id
        ORDER BY p.subject_id, c.number, i.day""",
    "adverse_events": f"""
        SELECT p.subject_id, e.id, e.term, c.number, i.day, e.onset_date, e.end_date, e.grade, e.serious,
               {", ".join("e." + f for f in SERIOUS.split(", "))}, e.relatedness, e.action_taken, e.outcome,
               e.created_at, e.reviewed_at
        FROM safety_adverseevent e JOIN patients_patient p ON p.id = e.patient_id
             LEFT JOIN visits_infusion i ON i.id = e.infusion_id
             LEFT JOIN visits_treatmentcycle c ON c.id = i.cycle_id
        WHERE e.voided_at IS NULL
        ORDER BY p.subject_id, e.onset_date, e.id""",
    "deviations": f"""
        SELECT p.subject_id, c.number, d.day, d.kind, d.description, d.detected_at, d.resolved_at, d.resolution
        FROM visits_protocoldeviation d JOIN patients_patient p ON p.id = d.patient_id
             LEFT JOIN visits_treatmentcycle c ON c.id = d.cycle_id
        WHERE {CURRENT_DEVIATION}
        ORDER BY p.subject_id, c.number, d.day, d.id""",
}


def _summary(expr, name, where=""):
    """n, mean, SD, min, max, quartiles of one expression over ``per`` (optionally filtered)."""
    f = f" FILTER (WHERE {where})" if where else ""
    return (f"count({expr}){f} AS {name}_n, avg({expr}){f} AS {name}_mean, "
            f"stddev_samp({expr}){f} AS {name}_sd, min({expr}){f} AS {name}_min, max({expr}){f} AS {name}_max, "
            f"percentile_cont(ARRAY[0.25, 0.5, 0.75]) WITHIN GROUP (ORDER BY {expr}){f} AS {name}_quartiles")


REPORT_SQL = f"""
WITH
inf AS (
    SELECT c.patient_id, sum(i.dose_g) AS total_g, count(*) AS days,
           count(*) FILTER (WHERE i.dose_within_tolerance) AS within
    FROM visits_infusion i
         JOIN visits_treatmentcycle c ON c.id = i.cycle_id
    GROUP BY c.patient_id
),
cyc AS (SELECT patient_id, count(*) AS n FROM visits_treatmentcycle GROUP BY patient_id),
ass AS (
    SELECT patient_id, count(*) AS n, min(ck_u_per_l) AS ck_nadir,
           (array_agg(ck_u_per_l ORDER BY assessment_date, id))[1] AS ck_base,
           (array_agg(ck_u_per_l ORDER BY assessment_date DESC, id DESC))[1] AS ck_last,
           (array_agg(mmt_total ORDER BY assessment_date, id))[1] AS mmt_base,
           (array_agg(mmt_total ORDER BY assessment_date DESC, id DESC))[1] AS mmt_last,
           count(*) FILTER (WHERE ck_u_per_l IS NOT NULL) AS ck_points
    FROM visits_assessment WHERE voided_at IS NULL GROUP BY patient_id
),
mal AS (
    SELECT patient_id, count(*) FILTER (WHERE timing = 'before') AS before,
           count(*) FILTER (WHERE timing = 'during') AS during,
           count(*) FILTER (WHERE timing = 'after') AS after
    FROM patients_malignancyhistory WHERE voided_at IS NULL GROUP BY patient_id
),
per AS (
    SELECT p.id, p.sex, p.status, p.suspected_cause, d.kind, p.age_at_enrolment AS age,
           p.disease_duration_months AS duration,
           coalesce(cyc.n, 0) AS cycles, coalesce(inf.total_g, 0) AS total_g, coalesce(inf.days, 0) AS days,
           coalesce(inf.within, 0) AS within, ass.ck_base, ass.ck_last, ass.ck_nadir, ass.mmt_base, ass.mmt_last,
           coalesce(ass.ck_points, 0) AS ck_points,
           mal.patient_id IS NOT NULL AS with_malignancy, mal.before, mal.during, mal.after,
           ass.ck_base > 0 AND (ass.ck_base - ass.ck_last) / ass.ck_base > {CK_RESPONSE_FALL} AS ck_responder,
           ass.mmt_base > 0 AND ass.mmt_last >= ass.mmt_base * {MMT_IMPROVEMENT_FACTOR} AS mmt_improved,
           ass.ck_base IS NOT NULL AND ass.ck_last IS NOT NULL AS both_ck,
           ass.mmt_base IS NOT NULL AND ass.mmt_last IS NOT NULL AS both_mmt
    FROM patients_patient p LEFT JOIN patients_diagnosis d ON d.patient_id = p.id
         LEFT JOIN inf ON inf.patient_id = p.id LEFT JOIN cyc ON cyc.patient_id = p.id
         LEFT JOIN ass ON ass.patient_id = p.id LEFT JOIN mal ON mal.patient_id = p.id
),
ae AS (
    SELECT count(*) AS total, count(*) FILTER (WHERE serious) AS serious,
           count(DISTINCT patient_id) AS patients
    FROM safety_adverseevent WHERE voided_at IS NULL
),
ae_grade AS (SELECT grade, count(*) AS n FROM safety_adverseevent WHERE voided_at IS NULL GROUP BY grade),
ae_rel AS (SELECT relatedness, count(*) AS n FROM safety_adverseevent WHERE voided_at IS NULL
           GROUP BY relatedness),
dev AS (SELECT kind, count(*) AS n FROM visits_protocoldeviation d WHERE {CURRENT_DEVIATION} GROUP BY kind)
SELECT
    count(*) AS n,
    count(*) FILTER (WHERE sex = 'F') AS women, count(*) FILTER (WHERE sex = 'M') AS men,
    {_summary("age", "age")},
    {_summary("duration", "duration")},
    count(*) FILTER (WHERE kind = 'PM') AS pm, count(*) FILTER (WHERE kind = 'DM') AS dm,
    count(*) FILTER (WHERE kind IS NULL) AS no_diagnosis,
    count(*) FILTER (WHERE with_malignancy) AS with_malignancy,
    sum(before) AS mal_before, sum(during) AS mal_during, sum(after) AS mal_after,
    count(*) FILTER (WHERE suspected_cause = 'viral') AS viral,
    count(*) FILTER (WHERE suspected_cause = 'drug') AS drug,
    {_summary("ck_base", "ck_baseline")},
    {_summary("mmt_base", "mmt_baseline")},
    {_summary("cycles", "cycles")},
    sum(total_g) AS total_g, sum(days) AS days, sum(within) AS within,
    count(*) FILTER (WHERE ck_responder) AS ck_responders,
    count(*) FILTER (WHERE mmt_improved) AS mmt_improved,
    {_summary("ck_base", "ck_pair_base", "both_ck")},
    {_summary("ck_last", "ck_pair_last", "both_ck")},
    {_summary("mmt_base", "mmt_pair_base", "both_mmt")},
    {_summary("mmt_last", "mmt_pair_last", "both_mmt")},
    {_summary("ck_last - ck_base", "ck_diff")},
    {_summary("mmt_last - mmt_base", "mmt_diff")},
    {_summary("CASE WHEN ck_base > 0 AND ck_last > 0 THEN ln(ck_last) - ln(ck_base) END", "ck_log_diff")},
    sum(ck_points) AS ck_points,
    (SELECT total FROM ae) AS ae_total, (SELECT serious FROM ae) AS ae_serious,
    (SELECT patients FROM ae) AS ae_patients,
    (SELECT json_object_agg(grade, n) FROM ae_grade) AS ae_by_grade,
    (SELECT json_object_agg(relatedness, n) FROM ae_rel) AS ae_by_relatedness,
    (SELECT json_object_agg(kind, n) FROM dev) AS deviations
FROM per
"""
