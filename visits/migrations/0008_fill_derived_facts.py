"""Fill the stored derived facts of the existing cycles and infusions with the
rules functions themselves (``visits.rules.derive_cycle`` / ``derive_infusion``:
the one source, no SQL copy). Reversible: going back drops the columns
(0007), so the reverse of this step has nothing to undo."""

from django.db import migrations

BATCH = 1000


def fill(apps, schema_editor):
    from visits import rules  # the rules as they are now; recompute_derived re-derives later changes

    TreatmentCycle = apps.get_model("visits", "TreatmentCycle")
    Infusion = apps.get_model("visits", "Infusion")
    cycle_fields, infusion_fields = list(rules.CYCLE_DERIVED_FIELDS), list(rules.INFUSION_DERIVED_FIELDS)
    infusions = {}
    for infusion in Infusion.objects.order_by("cycle_id", "day").iterator(chunk_size=BATCH):
        infusions.setdefault(infusion.cycle_id, []).append(infusion)
    cycles_out, infusions_out = [], []
    patient_id = previous_start = None
    for cycle in (TreatmentCycle.objects.select_related("patient").order_by("patient_id", "number")
                  .iterator(chunk_size=BATCH)):
        if cycle.patient_id != patient_id:
            patient_id, previous_start = cycle.patient_id, None
        p = cycle.patient
        derived = rules.derive_cycle(
            start_date=cycle.start_date, previous_start=previous_start, weight_kg=cycle.weight_kg,
            height_cm=cycle.height_cm, dosing_basis=cycle.dosing_basis, sex=p.sex,
            renal_risk=p.renal_risk, renal_risk_since=p.renal_risk_since,
            thrombotic_risk=p.thrombotic_risk, thrombotic_risk_since=p.thrombotic_risk_since)
        for name, value in vars(derived).items():
            setattr(cycle, name, value)
        cycles_out.append(cycle)
        for infusion in infusions.get(cycle.pk, []):
            facts = rules.derive_infusion(
                day=infusion.day, dose_g=infusion.dose_g, max_rate_ml_per_h=infusion.max_rate_ml_per_h,
                weight_kg=cycle.weight_kg, prescribed_daily_dose_g=derived.prescribed_daily_dose_g,
                at_risk=derived.at_risk)
            for name, value in vars(facts).items():
                setattr(infusion, name, value)
            infusions_out.append(infusion)
        previous_start = cycle.start_date
        if len(cycles_out) >= BATCH:
            TreatmentCycle.objects.bulk_update(cycles_out, cycle_fields)
            cycles_out = []
        if len(infusions_out) >= BATCH:
            Infusion.objects.bulk_update(infusions_out, infusion_fields)
            infusions_out = []
    TreatmentCycle.objects.bulk_update(cycles_out, cycle_fields)
    Infusion.objects.bulk_update(infusions_out, infusion_fields)


class Migration(migrations.Migration):

    dependencies = [
        ("visits", "0007_stored_derived_facts"),
        ("patients", "0009_risk_since_dates"),
    ]

    operations = [
        migrations.RunPython(fill, migrations.RunPython.noop),
    ]
