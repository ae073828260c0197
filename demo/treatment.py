"""Build the demo cohort's treatment courses through the same services as the forms."""

from datetime import timedelta
from decimal import Decimal

from coding.selectors import term_by_llt_code
from core.services import record_save
from medications.models import ConcomitantMedication
from medications.services import medication_save
from safety.models import AdverseEvent
from safety.services import adverse_event_save
from visits import rules as visit_rules
from visits.models import Assessment, AssessmentTimepoint, Infusion, MissedCycle, TreatmentCycle
from visits.services import CycleParts, assessment_save, cycle_save, missed_cycle_save

from . import cohort

MMT_SPLIT = (1, 1, 1, 1, 1, 1, 1, 1)


def _interpolate_geometric(first, last, steps):
    if steps == 1:
        return [first]
    ratio = (last / first) ** (1 / (steps - 1))
    return [round(first * ratio ** i) for i in range(steps)]


def _interpolate_linear(first, last, steps):
    if steps == 1:
        return [first]
    return [round(first + (last - first) * i / (steps - 1)) for i in range(steps)]


def _grades(total):
    """Eight Kendall grades (0-10) summing to ``total``."""
    base, extra = divmod(total, 8)
    return [min(10, base + (1 if i < extra else 0)) for i in range(8)]


def _assessment(patient, when, ck, mmt, step, steps, sex, response=1.0, **extra):
    """``response`` (0-1) scales how much the global scores improve over the course."""
    uln = 190 if sex == "F" else 200
    improve = response * step / max(steps - 1, 1)
    grades = _grades(mmt)
    values = dict(
        patient=patient, assessment_date=when, mmt_scale="kendall",
        ck_u_per_l=Decimal(ck), ck_lln_u_per_l=Decimal(30), ck_uln_u_per_l=Decimal(uln),
        ldh_u_per_l=Decimal(round(480 - 180 * improve)), ldh_uln_u_per_l=Decimal(250),
        physician_global=Decimal(str(round(6.5 - 2.5 * improve, 1))),
        patient_global=Decimal(str(round(6.0 - 2.0 * improve, 1))),
        extramuscular_global=Decimal(str(round(3.0 - 1.0 * improve, 1))),
        haq=Decimal(str(round(1.5 - 0.4 * improve, 3))),
        **extra,
    )
    for (field, _), grade in zip(visit_rules.MMT8_GROUPS, grades):
        values[field] = grade
    return Assessment(**values)


def build_course(patient, course: cohort.DemoCourse, author):
    """Cycles every cycle interval (visits.rules) from a week after enrolment, each with its assessment
    and two infusions (save the deliberate deviations), then the end-of-treatment
    visit four weeks after the last cycle."""
    steps = course.cycles + (1 if course.end_visit else 0)
    cks = _interpolate_geometric(course.ck_baseline, course.ck_last, steps)
    mmts = _interpolate_linear(course.mmt_baseline, course.mmt_last, steps)
    weight = Decimal(course.weight_kg)
    # Global scores improve with the CK response: fully in a responder, little otherwise.
    response = min(1.0, max(0.0, (1 - course.ck_last / course.ck_baseline) / 0.8))
    start = patient.enrolment_date + timedelta(days=7)
    for number in range(1, course.cycles + 1):
        special = cohort.DEVIATIONS.get((patient.subject_id, number))
        if number > 1:
            start += timedelta(days=40 if special == "late" else visit_rules.CYCLE_INTERVAL_DAYS)
        cycle = TreatmentCycle(patient=patient, number=number, start_date=start,
                               weight_kg=weight, height_cm=Decimal("168.0"), dosing_basis="actual")
        dose = visit_rules.prescribed_daily_dose_g(weight)
        rate_limit = Decimal("0.025") if patient.infusion_risk else Decimal("0.035")
        infusions = {}
        for day in (1, 2):
            if day == 2 and special == "no_day2":
                continue
            given = dose
            if day == 2 and special == "underdose_day2":
                given = visit_rules.q1(dose * Decimal("0.85"))
            rate = Decimal("0.035") if (day == 1 and special == "fast") else rate_limit
            infusions[day] = Infusion(
                day=day, infusion_date=start + timedelta(days=day - 1),
                lot=f"IVG-{start:%y%m}-{day}", concentration_pct=Decimal("10"),
                volume_ml=given * 10, dose_g=given,
                max_rate_ml_per_h=visit_rules.q1(rate * weight * 60),
            )
        assessment = _assessment(patient, start - timedelta(days=1), cks[number - 1],
                                 mmts[number - 1], number - 1, steps, patient.sex, response,
                                 timepoint=AssessmentTimepoint.PRE_CYCLE)
        for field, code in cohort.MISSING_CODES.get((patient.subject_id, number), {}).items():
            setattr(assessment, field, None)
            assessment.missing_codes[field] = code
        cycle_save(parts=CycleParts(cycle=cycle, assessment=assessment, infusions=infusions),
                   user=author)
        if (patient.subject_id, number) == cohort.INFUSION_REACTION[:2]:
            infusion = Infusion.objects.get(cycle=cycle, day=cohort.INFUSION_REACTION[2])
            adverse_event_save(user=author, event=AdverseEvent(
                patient=patient, infusion=infusion, term="Infusion-related reaction",
                coded_term=term_by_llt_code(cohort.AE_CODING["Infusion-related reaction"]),
                description="Headache and chills during the infusion; settled after slowing it.",
                onset_date=infusion.infusion_date, end_date=infusion.infusion_date, grade=1,
                relatedness="probable", action_taken="rate_reduced", outcome="recovered"))
    missed_reason = cohort.MISSED_CYCLES.get(patient.subject_id)
    if missed_reason:
        missed_cycle_save(user=author, missed=MissedCycle(
            patient=patient, planned_date=start + timedelta(days=visit_rules.CYCLE_INTERVAL_DAYS),
            reason=missed_reason, reason_detail="Travelling abroad that month."))
    if course.end_visit:
        assessment_save(user=author, assessment=_assessment(
            patient, start + timedelta(days=visit_rules.CYCLE_INTERVAL_DAYS), cks[-1], mmts[-1], steps - 1, steps, patient.sex, response,
            timepoint=AssessmentTimepoint.END_OF_TREATMENT))
        patient.status = "completed"
        record_save(user=author, instance=patient, reason="Treatment course completed")


def build_medications(patient, author):
    """The patient's concomitant medications of ``cohort.MEDICATIONS``, dated from the first
    infusion (after the course is entered: their "started during the study" reads it)."""
    patient.refresh_from_db()
    first = patient.first_infusion_date
    for m in cohort.MEDICATIONS.get(patient.subject_id, ()):
        medication_save(user=author, medication=ConcomitantMedication(
            patient=patient, drug_name=m.drug_name, atc_code=m.atc_code, indication=m.indication,
            dose=Decimal(m.dose), dose_unit=m.dose_unit, route=m.route, frequency=m.frequency,
            start_date=first + timedelta(days=m.start_days),
            end_date=first + timedelta(days=m.end_days) if m.end_days is not None else None,
            ongoing=m.end_days is None))
