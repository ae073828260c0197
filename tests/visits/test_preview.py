"""The record-cycle page's live preview (visits:cycle_preview): the rules of
visits/rules.py answer, as JSON, what static/js/cycle_form.js used to compute
itself (issue 13: no clinical rule restated outside rules.py)."""

from datetime import date
from decimal import Decimal

import pytest
from django.urls import reverse

from tests.patients.factories import PatientFactory
from visits import rules

pytestmark = pytest.mark.django_db

GRADES = [name for name, _ in rules.MMT8_GROUPS]


@pytest.fixture
def patient(site_a):
    return PatientFactory(site=site_a, subject_id="01-001", sex="M")


def preview(client, patient, **params):
    return client.get(reverse("visits:cycle_preview", args=[patient.pk]), params)


@pytest.mark.req("URS-VAL-002")
def test_actual_weight_preview_is_the_rules_answer(client_for, clinician, patient):
    response = preview(client_for(clinician), patient, weight_kg="70", dosing_basis="actual",
                       start_date="2025-03-17", day1_dose_g="70", day1_rate="150",
                       day2_dose_g="35", day2_rate="200")
    assert response.status_code == 200
    data = response.json()
    dosing = rules.dosing_weight_kg("actual", weight_kg=Decimal("70"))
    daily = rules.prescribed_daily_dose_g(dosing)
    assert data["dosing_weight_kg"] == str(dosing) == "70.0"
    assert data["prescribed_daily_dose_g"] == str(daily)
    assert data["prescribed_cycle_dose_g"] == str(rules.prescribed_cycle_dose_g(dosing)) == "140.0"
    assert data["at_risk"] is False
    assert data["rate_limit_ml_per_kg_min"] == str(rules.MAX_RATE_ML_PER_KG_MIN)
    assert data["max_rate_ml_per_h"] == str(rules.max_rate_ml_per_h(Decimal("70"), False))
    day1, day2 = data["days"]["1"], data["days"]["2"]
    assert day1["dose_within_tolerance"] is True and day1["dose_status"] == "within"
    assert day1["rate_within_limit"] is True
    assert day2["dose_within_tolerance"] is False and day2["dose_status"] == "under"
    assert day2["dose_difference_pct"] == str(rules.q1(rules.dose_difference(Decimal("35"), daily) * 100))
    limit_ml_h = rules.MAX_RATE_ML_PER_KG_MIN * 70 * rules.MINUTES_PER_HOUR
    assert day2["rate_within_limit"] is (Decimal("200") <= limit_ml_h)
    assert data["mmt_total"] is None
    assert data["dose_tolerance_pct"] == str(rules.q1(rules.DOSE_TOLERANCE * 100))


@pytest.mark.req("URS-VAL-002", "URS-PRT-005")
def test_adjusted_weight_preview_is_the_rules_answer(client_for, clinician, patient):
    data = preview(client_for(clinician), patient, weight_kg="110", height_cm="175",
                   dosing_basis="adjusted", day1_dose_g="90").json()
    dosing = rules.dosing_weight_kg("adjusted", weight_kg=Decimal("110"), height_cm=Decimal("175"), sex="M")
    assert dosing < Decimal("110")  # the adjustment did something
    assert data["dosing_weight_kg"] == str(dosing)
    assert data["prescribed_daily_dose_g"] == str(rules.prescribed_daily_dose_g(dosing))
    # The rate limit is on the actual weight.
    assert data["max_rate_ml_per_h"] == str(rules.max_rate_ml_per_h(Decimal("110"), False))
    facts = rules.derive_infusion(day=1, dose_g=Decimal("90"), max_rate_ml_per_h=None, weight_kg=Decimal("110"),
                                  prescribed_daily_dose_g=rules.prescribed_daily_dose_g(dosing), at_risk=False)
    assert data["days"]["1"]["dose_within_tolerance"] is facts.dose_within_tolerance
    assert data["days"]["1"]["dose_difference_pct"] == str(facts.dose_difference_pct)


def test_the_patients_sex_and_risk_in_force_come_from_the_stored_patient(client_for, clinician, site_a):
    woman = PatientFactory(site=site_a, subject_id="01-002", sex="F", renal_risk=True,
                           renal_risk_since=date(2025, 4, 1))
    client = client_for(clinician)
    before = preview(client, woman, weight_kg="110", height_cm="175", dosing_basis="adjusted",
                     start_date="2025-03-17").json()
    after = preview(client, woman, weight_kg="110", height_cm="175", dosing_basis="adjusted",
                    start_date="2025-04-17").json()
    female = rules.dosing_weight_kg("adjusted", weight_kg=Decimal("110"), height_cm=Decimal("175"), sex="F")
    assert before["dosing_weight_kg"] == str(female)
    assert before["at_risk"] is False and after["at_risk"] is True
    assert after["rate_limit_ml_per_kg_min"] == str(rules.MAX_RATE_AT_RISK_ML_PER_KG_MIN)
    assert after["max_rate_ml_per_h"] == str(rules.max_rate_ml_per_h(Decimal("110"), True))


def test_missing_or_implausible_numbers_preview_as_nothing(client_for, clinician, patient):
    client = client_for(clinician)
    empty = preview(client, patient).json()
    assert empty["dosing_weight_kg"] is None and empty["prescribed_daily_dose_g"] is None
    assert empty["max_rate_ml_per_h"] is None and empty["mmt_total"] is None
    assert empty["days"]["1"]["dose_within_tolerance"] is None
    no_height = preview(client, patient, weight_kg="80", dosing_basis="adjusted").json()
    assert no_height["dosing_weight_kg"] is None and no_height["max_rate_ml_per_h"] is not None
    huge = preview(client, patient, weight_kg="9999", day1_dose_g="70").json()
    assert huge["dosing_weight_kg"] is None and huge["days"]["1"]["dose_status"] is None


def test_mmt_total_is_the_rules_sum(client_for, clinician, patient):
    grades = dict(zip(GRADES, ["7", "8", "9", "10", "6", "5", "7", "4"]))
    data = preview(client_for(clinician), patient, **grades).json()
    assert data["mmt_total"] == rules.mmt_total(int(g) for g in grades.values()) == 56
    grades.pop(GRADES[0])
    assert preview(client_for(clinician), patient, **grades).json()["mmt_total"] is None


@pytest.mark.parametrize("field, value", [
    ("weight_kg", "seventy"), ("weight_kg", "١٢"), ("weight_kg", "7e1"), ("weight_kg", "NaN"),
    ("day2_rate", "-5"), ("dosing_basis", "ideal"), ("start_date", "２０２５-03-17"),
    ("mmt_biceps", "٧"),
])
def test_garbage_is_a_400_field_error(client_for, clinician, patient, field, value):
    response = preview(client_for(clinician), patient, **{field: value})
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert list(errors) == [field]
    assert errors[field][0]["code"] in ("invalid", "invalid_choice")


def test_other_sites_patient_is_404_and_read_only_roles_403(client_for, clinician_b, coordinator, monitor,
                                                            patient):
    assert preview(client_for(clinician_b), patient, weight_kg="70").status_code == 404
    for user in (coordinator, monitor):
        assert preview(client_for(user), patient, weight_kg="70").status_code == 403


def test_preview_runs_a_constant_number_of_queries(client_for, clinician, patient, django_assert_num_queries):
    client = client_for(clinician)
    # session, user, memberships, role permissions, the patient, the previous cycle's start (the window):
    # nothing per day or per grade
    with django_assert_num_queries(6):
        response = preview(client, patient, weight_kg="70", height_cm="175", dosing_basis="adjusted",
                           start_date="2025-03-17", day1_dose_g="70", day1_rate="150", day2_dose_g="70",
                           day2_rate="150", **dict.fromkeys(GRADES, "7"))
    assert response.status_code == 200


def test_the_page_asks_the_preview(client_for, clinician, patient):
    html = client_for(clinician).get(reverse("visits:cycle_create", args=[patient.pk])).content.decode()
    assert f'data-preview-url="{reverse("visits:cycle_preview", args=[patient.pk])}"' in html
    assert "data-tolerance" not in html and "data-max-rate" not in html and "data-sex" not in html
