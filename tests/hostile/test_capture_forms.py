"""Hostile input into every data-entry web form (patients, visits, safety, and
the void and withdraw reason forms of ``core``): a field-level error with
nothing stored changed, or a success; never a 500, never unescaped HTML.

Each test first posts the form's valid baseline (it must succeed, so the
property also walks the success path), then hypothesis replaces one to three
fields by hostile values (and may leave one out). See ``support.py``.
"""

import pytest
from django.urls import reverse

from .support import fuzz_form, page

pytestmark = pytest.mark.django_db

N = 20  # examples per form

PATIENT = {"subject_id": "01-003", "sex": "F", "birth_year": "1970", "race": "WHITE",
           "consent_date": "2025-03-01", "enrolment_date": "2025-03-10", "symptom_onset_date": "2024-12-01",
           "active_myopathy": "on", "suspected_cause": "viral", "suspected_cause_detail": "Coxsackie B",
           "status": "on_study"}
EDIT = {"change_reason": "Corrected from the source document"}
GRADES = ["neck_flexors", "deltoid", "biceps", "wrist_extensors", "gluteus_maximus", "gluteus_medius",
          "quadriceps", "ankle_dorsiflexors"]


def assessment(prefix, on, grade="7", ck="2000"):
    values = {"assessment_date": on, "mmt_scale": "kendall", "ck_u_per_l": ck, "ck_uln_u_per_l": "200",
              **{f"mmt_{g}": grade for g in GRADES}}
    return {f"{prefix}{k}": v for k, v in values.items()}


def infusion(prefix, on):
    values = {"infusion_date": on, "start_time": "09:00", "end_time": "14:00", "lot": "LOT-2",
              "concentration_pct": "10", "volume_ml": "700", "dose_g": "70", "max_rate_ml_per_h": "150"}
    return {f"{prefix}{k}": v for k, v in values.items()}


def run(client, url, examples=N, **kwargs):
    base, names = page(client, url, initial=kwargs.pop("initial", {}))
    fuzz_form(client, url, base, names, examples, **kwargs)


# --- Patients ----------------------------------------------------------------------------------

def test_patient_create(browser, world):
    run(browser("clinician"), reverse("patients:patient_create"),
        initial={**PATIENT, "site": str(world.site.pk)})


def test_patient_update(browser, world):
    run(browser("clinician"), reverse("patients:patient_update", args=[world.patient.pk]),
        initial={**EDIT, "suspected_cause": "viral", "suspected_cause_detail": "Coxsackie B"})


def test_patient_withdraw(browser, world):
    run(browser("clinician"), reverse("patients:patient_withdraw", args=[world.patient.pk]),
        initial={"withdrawal_date": "2025-05-01", "withdrawal_reason": "Moved away"})


def test_diagnosis_create(browser, world):
    run(browser("clinician"), reverse("patients:diagnosis_edit", args=[world.bare.pk]),
        initial={"kind": "DM", "diagnosis_date": "2025-02-01", "bp_weakness": "on", "bp_enzymes": "on",
                 "bp_emg": "on", "heliotrope_rash": "on"})


def test_diagnosis_update(browser, world):
    run(browser("clinician"), reverse("patients:diagnosis_edit", args=[world.patient.pk]),
        initial={**EDIT, "diagnosis_date": "2025-02-02"})


def test_malignancy_create(browser, world):
    run(browser("clinician"), reverse("patients:malignancy_create", args=[world.patient.pk]),
        initial={"malignancy_type": "Breast carcinoma", "diagnosis_date": "2015-06-01", "status": "remission",
                 "certainty": "confirmed", "notes": "Treated surgically"})


def test_malignancy_update(browser, world):
    run(browser("clinician"), reverse("patients:malignancy_update", args=[world.patient.pk, world.malignancy.pk]),
        initial={**EDIT, "notes": "Checked"})


def test_malignancy_void(browser, world):
    run(browser("clinician"), reverse("patients:malignancy_void", args=[world.patient.pk, world.malignancy.pk]),
        initial={"void_reason": "Entered for the wrong patient"})


# --- Visits ----------------------------------------------------------------------------------------

@pytest.mark.req("URS-CHK-007")
def test_cycle_create(browser, world):
    """The record-cycle page: the cycle, its assessment and both infusion days."""
    run(browser("clinician"), reverse("visits:cycle_create", args=[world.patient.pk]),
        initial={"cycle-start_date": "2025-04-14", "cycle-weight_kg": "70", "cycle-dosing_basis": "actual",
                 **assessment("assessment-", "2025-04-14"), **infusion("day1-", "2025-04-14"),
                 **infusion("day2-", "2025-04-15")})


def test_cycle_update(browser, world):
    run(browser("clinician"), reverse("visits:cycle_update", args=[world.patient.pk, 1]),
        initial={**EDIT, "cycle-weight_kg": "71"})


def test_end_of_treatment_create(browser, world):
    run(browser("clinician"), reverse("visits:end_of_treatment", args=[world.patient.pk]),
        initial=assessment("", "2025-07-01", grade="8", ck="300"))


# --- Safety ---------------------------------------------------------------------------------------

AE = {"term": "Rash", "description": "Maculopapular", "onset_date": "2025-03-18", "end_date": "2025-03-20",
      "grade": "1", "relatedness": "possible", "action_taken": "none", "outcome": "recovered"}


def test_adverse_event_create(browser, world):
    run(browser("clinician"), reverse("safety:ae_create", args=[world.patient.pk]), initial=AE)


def test_adverse_event_update(browser, world):
    run(browser("clinician"), reverse("safety:ae_update", args=[world.patient.pk, world.event.pk]),
        initial={**EDIT, "description": "After day 1, 2 h into the infusion"})


def test_adverse_event_void(browser, world):
    run(browser("clinician"), reverse("safety:ae_void", args=[world.patient.pk, world.event.pk]),
        initial={"void_reason": "Duplicate entry"})


# --- Regressions found by these properties -------------------------------------------------------

@pytest.mark.parametrize("value", ["sNaN", "-sNaN", "NaN", "Infinity"])
def test_non_finite_decimal_on_an_edit_is_a_field_error(browser, world, value):
    """"sNaN" made ``changed_data`` raise InvalidOperation (a 500) on every edit form
    with a decimal field; it is now the field's "Enter a number." error."""
    from .support import post_form

    client = browser("clinician")
    url = reverse("visits:cycle_update", args=[world.patient.pk, 1])
    base, _ = page(client, url, initial={**EDIT, "assessment-ck_u_per_l": value})
    outcome, response = post_form(client, url, base)
    assert outcome == "error"
    assert response.context["entry"]["assessment"].errors["ck_u_per_l"][0] == "Enter a number."
