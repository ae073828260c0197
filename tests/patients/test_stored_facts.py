"""Derived facts of patients, diagnoses and malignancies: computed by patients.rules,
stored by patients.services with the rules version, kept current when the visits
app's rows move, and re-derived by ``manage.py recompute_derived``."""

from datetime import date, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from exchange import datasets
from patients import models, rules, services
from patients.models import Diagnosis, MalignancyHistory, Patient
from reporting.selectors import outcome_report
from tests.patients.factories import DiagnosisFactory, MalignancyFactory, PatientFactory
from tests.visits.factories import AssessmentFactory, CycleFactory, InfusionFactory
from visits.services import CycleParts, cycle_save

pytestmark = pytest.mark.django_db


def entered_cycle(patient, number=1):
    """A cycle with both infusion days, through the visits service (2025-03-17 and 18 for cycle 1)."""
    cycle = CycleFactory.build(patient=patient, number=number)
    infusions = {day: InfusionFactory.build(cycle=cycle, day=day) for day in (1, 2)}
    cycle_save(parts=CycleParts(cycle=cycle, infusions=infusions))
    return cycle


def end_of_treatment(patient, on):
    AssessmentFactory(cycle=None, patient=patient, timepoint="end", assessment_date=on)
    return services.patient_facts_refresh(patient, reason="End-of-treatment visit entered")


def stored(model, pk):
    return model.objects.get(pk=pk)


@pytest.mark.req("URS-DOC-001")
def test_patient_facts_are_stored_with_the_rules_version(site_a):
    patient = PatientFactory(site=site_a, birth_year=1970, enrolment_date=date(2025, 3, 10),
                             symptom_onset_date=date(2024, 12, 1))
    row = Patient.objects.filter(pk=patient.pk).values(
        "age_at_enrolment", "age_at_onset", "disease_duration_at_enrolment_months", "disease_duration_months",
        "first_infusion_date", "end_of_treatment_date", "rules_version").get()
    assert row == {"age_at_enrolment": 54, "age_at_onset": 54, "disease_duration_at_enrolment_months": Decimal("3.3"),
                   "disease_duration_months": None, "first_infusion_date": None, "end_of_treatment_date": None,
                   "rules_version": rules.RULES_VERSION}


@pytest.mark.req("URS-PRT-003")
def test_diagnosis_facts_are_stored(site_a):
    dx = DiagnosisFactory(patient=PatientFactory(site=site_a, birth_year=1970))
    row = Diagnosis.objects.filter(pk=dx.pk).values("rash", "certainty", "eular_acr_score", "eular_acr_class",
                                                    "rules_version").get()
    assert row == {"rash": True, "certainty": "definite", "eular_acr_score": Decimal("6.5"),
                   "eular_acr_class": "probable IIM", "rules_version": rules.RULES_VERSION}


def test_a_patient_correction_re_derives_its_diagnosis(site_a):
    """The EULAR/ACR score reads the patient's age at onset: 54 (2.1 points) -> 30 (1.3)."""
    dx = DiagnosisFactory(patient=PatientFactory(site=site_a, birth_year=1970))
    patient = stored(Patient, dx.patient_id)
    patient.birth_year = 1994
    services.patient_save(patient=patient, reason="Year of birth mistyped")
    assert stored(Diagnosis, dx.pk).eular_acr_score == Decimal("5.7")
    assert stored(Diagnosis, dx.pk).history.latest().history_change_reason == "Year of birth mistyped"


@pytest.mark.req("URS-CHG-003")
def test_cycle_save_stores_the_first_infusion_and_re_times_malignancies(site_a):
    patient = PatientFactory(site=site_a, symptom_onset_date=date(2024, 12, 1))
    malignancy = MalignancyFactory(patient=patient, diagnosis_date=date(2025, 4, 1))
    assert stored(MalignancyHistory, malignancy.pk).timing == "before"  # no infusion yet

    entered_cycle(patient)

    patient = stored(Patient, patient.pk)
    assert (patient.first_infusion_date, patient.last_infusion_date) == (date(2025, 3, 17), date(2025, 3, 18))
    assert patient.disease_duration_months == rules.disease_duration_months(date(2024, 12, 1), date(2025, 3, 17))
    assert patient.version == 1  # a derived fact is no edit: an editor's copy does not go stale
    assert patient.history.latest().history_change_reason == "Cycle entered"
    malignancy = stored(MalignancyHistory, malignancy.pk)
    assert malignancy.timing == "after"  # after the last infusion, no end-of-treatment visit
    assert malignancy.history.latest().history_change_reason == "Cycle entered"


@pytest.mark.req("URS-PRT-018")
def test_malignancy_during_runs_to_the_end_of_treatment_visit_whatever_the_status(site_a):
    """Regression (issue 13): diagnosed after the last infusion but before the
    end-of-treatment visit is "during"; it read "after" once the patient was
    completed (the last infusion ended the treatment, and only for some statuses)."""
    patient = PatientFactory(site=site_a)
    entered_cycle(patient)  # last infusion 2025-03-18
    malignancy = MalignancyFactory(patient=patient, diagnosis_date=date(2025, 4, 1))
    end_of_treatment(patient, date(2025, 4, 14))
    assert stored(Patient, patient.pk).end_of_treatment_date == date(2025, 4, 14)
    assert stored(MalignancyHistory, malignancy.pk).timing == "during"

    patient = stored(Patient, patient.pk)
    patient.status = "completed"
    services.patient_save(patient=patient, reason="Treatment course completed")
    assert stored(MalignancyHistory, malignancy.pk).timing == "during"
    later = MalignancyFactory(patient=patient, diagnosis_date=date(2025, 4, 15))
    assert stored(MalignancyHistory, later.pk).timing == "after"

    # The report and the export read the stored timing.
    report = outcome_report(Patient.objects.all())
    assert report.baseline["malignancy_timing"] == {"before": 0, "during": 1, "after": 1}
    assert [r["timing"] for r in datasets.malignancy_rows(Patient.objects.all())] == ["during", "after"]


@pytest.mark.req("URS-CHG-001")
def test_recompute_derived_lists_a_rule_change_and_applies_it_with_the_reason(site_a, monkeypatch):
    dx = DiagnosisFactory(patient=PatientFactory(site=site_a, birth_year=1970))  # score 6.5: probable IIM
    history_rows = Diagnosis.history.count()
    # A rules fix: the "probable" cut-off without biopsy moves from 5.5 to 7.0.
    monkeypatch.setattr(rules, "EULAR_ACR_PROBABLE_MIN", (Decimal("7.0"), Decimal("6.7")))

    out = StringIO()
    call_command("recompute_derived", "--app", "patients", stdout=out)
    assert "eular_acr_class 'probable IIM' -> 'possible IIM' (would change)" in out.getvalue()
    assert stored(Diagnosis, dx.pk).eular_acr_class == "probable IIM"  # dry run: nothing written
    assert Diagnosis.history.count() == history_rows

    out = StringIO()
    call_command("recompute_derived", "--app", "patients", "--apply", "--reason", "EULAR/ACR cut-off fixed",
                 stdout=out)
    assert "(written)" in out.getvalue()
    dx = stored(Diagnosis, dx.pk)
    assert dx.eular_acr_class == "possible IIM"
    latest = dx.history.latest()
    assert (latest.history_change_reason, latest.eular_acr_class) == ("EULAR/ACR cut-off fixed", "possible IIM")

    out = StringIO()
    call_command("recompute_derived", "--app", "patients", stdout=out)
    assert "0 stored fact(s) would change" in out.getvalue()


def test_recompute_derived_reports_a_locked_casebook_without_writing(site_a, monkeypatch, admin_user):
    patient = PatientFactory(site=site_a, birth_year=1970)
    Patient.objects.filter(pk=patient.pk).update(locked_at=patient.created_at, locked_by=admin_user)
    # an age rule fix (no mid-year imputation):
    monkeypatch.setattr(rules, "age_at", lambda on, birth_year, birth_date=None: on.year - birth_year)
    changes = services.derived_recompute(apply=True, reason="Age without imputation")
    assert {c.field for c in changes} >= {"age_at_enrolment"}
    assert all(not c.written and "locked" in c.refused for c in changes)
    assert stored(Patient, patient.pk).age_at_enrolment == 54


def test_one_choices_class_per_concept():
    assert models.PatientStatus is rules.PatientStatus
    assert Diagnosis._meta.get_field("certainty").choices == rules.Certainty.choices
    assert Diagnosis._meta.get_field("kind").choices == rules.Myopathy.choices
    assert MalignancyHistory._meta.get_field("timing").choices == rules.MalignancyTiming.choices


@pytest.mark.req("URS-SIG-002")
def test_derived_facts_do_not_change_the_signed_data(site_a):
    """The facts follow the signed data: re-deriving them invalidates no signature."""
    from core.fingerprint import hash_of

    patient = PatientFactory(site=site_a)
    before = hash_of(Patient.objects.for_signature().get(pk=patient.pk))
    entered_cycle(patient)
    Patient.objects.filter(pk=patient.pk).update(age_at_enrolment=99, rules_version="old")
    after = Patient.objects.for_signature().get(pk=patient.pk)
    assert "age_at_enrolment" not in after.signature_payload()["patient"]
    assert hash_of(after) != before  # (the cycle is signed data)
    Patient.objects.filter(pk=patient.pk).update(age_at_enrolment=54)
    assert hash_of(Patient.objects.for_signature().get(pk=patient.pk)) == hash_of(after)


def test_end_of_treatment_form_refreshes_the_timing(client_for, clinician, site_a):
    """The end-of-treatment page (visits) re-times the malignancies."""
    from django.urls import reverse

    patient = PatientFactory(site=site_a)
    entered_cycle(patient)
    malignancy = MalignancyFactory(patient=patient, diagnosis_date=date(2025, 4, 1))
    assert stored(MalignancyHistory, malignancy.pk).timing == "after"
    data = {"assessment_date": (date(2025, 3, 18) + timedelta(days=30)).isoformat(), "mmt_scale": "kendall"}
    response = client_for(clinician).post(reverse("visits:end_of_treatment", args=[patient.pk]), data)
    assert response.status_code == 302, response.context["form"].errors
    assert stored(MalignancyHistory, malignancy.pk).timing == "during"


def test_the_data_migration_fills_the_facts_of_existing_rows(site_a):
    """patients 0008 derives the new columns of rows stored before them, with the rules."""
    import importlib

    from django.apps import apps

    fill = importlib.import_module("patients.migrations.0008_fill_stored_derived_facts").fill
    patient = PatientFactory(site=site_a, birth_year=1970, symptom_onset_date=date(2024, 12, 1))
    dx = DiagnosisFactory(patient=patient)
    entered_cycle(patient)
    malignancy = MalignancyFactory(patient=patient, diagnosis_date=date(2025, 4, 1))
    end_of_treatment(patient, date(2025, 4, 14))
    expected = (Patient.objects.filter(pk=patient.pk).values(*models.PATIENT_FACTS).get(),
                Diagnosis.objects.filter(pk=dx.pk).values(*models.DIAGNOSIS_FACTS).get(),
                stored(MalignancyHistory, malignancy.pk).timing)
    assert expected[2] == "during"
    # As stored before the migration: the columns empty.
    Patient.objects.update(**{name: None for name in models.PATIENT_FACTS}, rules_version="")
    Diagnosis.objects.update(rash=None, certainty="", eular_acr_score=None, eular_acr_class="", rules_version="")
    MalignancyHistory.objects.update(timing="", rules_version="")

    fill(apps, None)

    assert (Patient.objects.filter(pk=patient.pk).values(*models.PATIENT_FACTS).get(),
            Diagnosis.objects.filter(pk=dx.pk).values(*models.DIAGNOSIS_FACTS).get(),
            stored(MalignancyHistory, malignancy.pk).timing) == expected
    assert {stored(Patient, patient.pk).rules_version, stored(Diagnosis, dx.pk).rules_version,
            stored(MalignancyHistory, malignancy.pk).rules_version} == {rules.RULES_VERSION}
