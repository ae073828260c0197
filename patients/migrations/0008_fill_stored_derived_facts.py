"""Fill the stored derived facts of the existing patients, diagnoses and
malignancies with the rules (``patients.rules``), as ``patients.services``
derives them on every save.

Reverse: nothing to undo (reversing 0007 drops the columns). No history rows
are written: the facts are new columns, not a change of any recorded value;
``manage.py recompute_derived`` re-derives them with history rows after a
rules change.
"""

from django.db import migrations
from django.db.models import Max, Min

from patients import rules

BATCH = 1000


def fill(apps, schema_editor):
    Patient = apps.get_model("patients", "Patient")
    Diagnosis = apps.get_model("patients", "Diagnosis")
    MalignancyHistory = apps.get_model("patients", "MalignancyHistory")
    Infusion = apps.get_model("visits", "Infusion")
    Assessment = apps.get_model("visits", "Assessment")

    infusions = {pk: (first, last) for pk, first, last in (
        Infusion.objects.order_by().values("cycle__patient_id")
        .annotate(first=Min("infusion_date"), last=Max("infusion_date"))
        .values_list("cycle__patient_id", "first", "last"))}
    eot = dict(Assessment.objects.filter(timepoint="end", voided_at__isnull=True)
               .values_list("patient_id", "assessment_date"))

    patients, age_at_onset = [], {}
    for patient in Patient.objects.order_by("pk").iterator(chunk_size=BATCH):
        first, last = infusions.get(patient.pk, (None, None))
        facts = rules.patient_facts(
            birth_year=patient.birth_year, birth_date=patient.birth_date,
            enrolment_date=patient.enrolment_date, symptom_onset_date=patient.symptom_onset_date,
            first_infusion=first, last_infusion=last, end_of_treatment_visit=eot.get(patient.pk))
        for name, value in facts.items():
            setattr(patient, name, value)
        patient.rules_version = rules.RULES_VERSION
        age_at_onset[patient.pk] = facts["age_at_onset"]
        patients.append(patient)
    Patient.objects.bulk_update(patients, [*facts_names(), "rules_version"], batch_size=BATCH)

    diagnoses = []
    for diagnosis in Diagnosis.objects.order_by("pk").iterator(chunk_size=BATCH):
        facts = rules.diagnosis_facts(
            kind=diagnosis.kind, age_at_onset=age_at_onset.get(diagnosis.patient_id),
            criteria={n: getattr(diagnosis, n) for n in rules.DIAGNOSIS_CRITERIA})
        diagnosis.rash = facts["rash"]
        diagnosis.certainty = facts["certainty"].value
        diagnosis.eular_acr_score = facts["eular_acr_score"]
        diagnosis.eular_acr_class = facts["eular_acr_class"].value
        diagnosis.rules_version = rules.RULES_VERSION
        diagnoses.append(diagnosis)
    Diagnosis.objects.bulk_update(diagnoses, ["rash", "certainty", "eular_acr_score", "eular_acr_class",
                                              "rules_version"], batch_size=BATCH)

    malignancies = []
    for malignancy in MalignancyHistory.objects.order_by("pk").iterator(chunk_size=BATCH):
        first, last = infusions.get(malignancy.patient_id, (None, None))
        end = rules.treatment_end(last_infusion=last, end_of_treatment_visit=eot.get(malignancy.patient_id))
        malignancy.timing = rules.malignancy_timing(malignancy.diagnosis_date, first, end).value
        malignancy.rules_version = rules.RULES_VERSION
        malignancies.append(malignancy)
    MalignancyHistory.objects.bulk_update(malignancies, ["timing", "rules_version"], batch_size=BATCH)


def facts_names():
    return ["age_at_enrolment", "age_at_onset", "disease_duration_at_enrolment_months",
            "disease_duration_months", "first_infusion_date", "last_infusion_date", "end_of_treatment_date"]


class Migration(migrations.Migration):

    dependencies = [
        ("patients", "0007_stored_derived_facts"),
        ("visits", "0006_deviation_rows_append_only"),
    ]

    operations = [
        migrations.RunPython(fill, migrations.RunPython.noop, elidable=True),
    ]
