"""Fill the next cycle's schedule stored on the existing patients with the rules
function itself (``visits.rules.next_cycle``: the one source, no SQL copy). No
history rows: the facts are derived, not entered (as 0008). Reversible: going
back drops the columns (patients 0010), so the reverse has nothing to undo."""

from django.db import migrations
from django.db.models import Max

BATCH = 1000


def fill(apps, schema_editor):
    from patients.rules import PatientStatus
    from visits import rules  # the rules as they are now; recompute_derived re-derives later changes

    Patient = apps.get_model("patients", "Patient")
    TreatmentCycle = apps.get_model("visits", "TreatmentCycle")
    last_starts = dict(TreatmentCycle.objects.order_by().values("patient_id")
                       .annotate(last=Max("start_date")).values_list("patient_id", "last"))
    fields = list(rules.NEXT_CYCLE_FIELDS)
    out = []
    for patient in Patient.objects.order_by("pk").iterator(chunk_size=BATCH):
        derived = rules.next_cycle(on_study=patient.status == PatientStatus.ON_STUDY, last_start=last_starts.get(patient.pk),
                                   enrolment_date=patient.enrolment_date)
        for name, value in vars(derived).items():
            setattr(patient, name, value)
        out.append(patient)
        if len(out) >= BATCH:
            Patient.objects.bulk_update(out, fields)
            out = []
    Patient.objects.bulk_update(out, fields)


class Migration(migrations.Migration):

    dependencies = [
        ("visits", "0008_fill_derived_facts"),
        ("patients", "0010_next_cycle_schedule"),
    ]

    operations = [
        migrations.RunPython(fill, migrations.RunPython.noop),
    ]
