"""Derived facts stored once (issue 13): computed by visits/rules.py, stored by
visits/services.py on every write with the rules version, judged with the risk
in force on the cycle's own date, re-derived by ``manage.py recompute_derived``."""

import io
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.utils import timezone

from patients.services import patient_save
from tests.patients.factories import PatientFactory
from visits import rules
from visits.models import Assessment, Infusion, ProtocolDeviation, TreatmentCycle
from visits.services import CycleParts, cycle_save

pytestmark = pytest.mark.django_db

START = date(2025, 3, 17)


@pytest.fixture
def patient(site_a):
    return PatientFactory(site=site_a, subject_id="01-001", consent_date=date(2025, 2, 20),
                          enrolment_date=date(2025, 3, 1))


def enter_cycle(patient, number, *, start=None, rate="150", day1_dose="70.0", weight="70.0"):
    """A cycle entered through the service, as the form and the API do: 150 mL/h at 70 kg is
    0.036 mL/kg/min, within the normal limit, above the limit at risk."""
    start = start or START + timedelta(days=28 * (number - 1))
    cycle = TreatmentCycle(patient=patient, number=number, start_date=start, weight_kg=Decimal(weight),
                           dosing_basis="actual")
    assessment = Assessment(timepoint="pre_cycle", assessment_date=start, mmt_scale="kendall",
                            ck_u_per_l=Decimal("2400"), ck_uln_u_per_l=Decimal("200"))
    infusions = {day: Infusion(day=day, infusion_date=start + timedelta(days=day - 1), lot="LOT-1",
                               dose_g=Decimal(day1_dose if day == 1 else "70.0"),
                               volume_ml=Decimal(day1_dose if day == 1 else "70.0") * 10,
                               concentration_pct=Decimal("10"), max_rate_ml_per_h=Decimal(rate))
                 for day in (1, 2)}
    cycle_save(parts=CycleParts(cycle=cycle, assessment=assessment, infusions=infusions), user=None)
    return TreatmentCycle.objects.select_related("patient").get(pk=cycle.pk)


def correct_ck(cycle, ck, reason):
    assessment = cycle.assessment
    assessment.ck_u_per_l = Decimal(ck)
    cycle_save(parts=CycleParts(cycle=cycle, assessment=assessment,
                                expected_versions={"assessment": assessment.version}), reason=reason)


def open_deviations(patient):
    return sorted((d.cycle.number, d.kind, d.day) for d in
                  ProtocolDeviation.objects.open().filter(patient=patient).select_related("cycle"))


@pytest.mark.req("URS-DOC-001")
def test_every_cycle_and_infusion_fact_is_stored_with_the_rules_version(patient):
    enter_cycle(patient, 1)
    second = enter_cycle(patient, 2, start=START + timedelta(days=40), day1_dose="60.0")
    assert (second.dosing_weight_kg, second.prescribed_daily_dose_g) == (Decimal("70.0"), Decimal("70.0"))
    assert second.planned_start_date == START + timedelta(days=rules.CYCLE_INTERVAL_DAYS)
    assert (second.window_offset_days, second.within_window, second.at_risk) == (12, False, False)
    assert second.rules_version == rules.RULES_VERSION
    day1, day2 = second.infusions.order_by("day")
    assert (day1.prescribed_dose_g, day1.dose_difference_pct, day1.dose_within_tolerance) == (
        Decimal("70.0"), Decimal("-14.3"), False)
    assert (day1.rate_ml_per_kg_min, day1.rate_limit_ml_per_kg_min, day1.rate_within_limit) == (
        Decimal("0.036"), rules.MAX_RATE_ML_PER_KG_MIN, True)
    assert (day2.dose_within_tolerance, day2.rules_version) == (True, rules.RULES_VERSION)
    # The facts are on the history row of the entry itself (no second write).
    assert second.history.count() == 1 and day1.history.count() == 1
    # The deviations agree with the stored judgements.
    assert open_deviations(patient) == [(2, "underdose", 1), (2, "window", 0)]


@pytest.mark.req("URS-CHG-003")
def test_a_weight_correction_rederives_the_infusions_it_did_not_touch(patient):
    cycle = enter_cycle(patient, 1)
    cycle.weight_kg = Decimal("80.0")
    cycle_save(parts=CycleParts(cycle=cycle, expected_versions={"cycle": cycle.version}),
               reason="Weight misread")
    day1 = Infusion.objects.get(cycle=cycle, day=1)
    assert (day1.prescribed_dose_g, day1.dose_within_tolerance) == (Decimal("80.0"), False)
    assert day1.history.first().history_change_reason == "Derived facts recomputed: Weight misread"
    assert open_deviations(patient) == [(1, "underdose", 1), (1, "underdose", 2)]


@pytest.mark.req("URS-CHG-003")
def test_ticking_a_risk_then_correcting_an_earlier_ck_makes_no_retroactive_deviation(patient):
    """The finding: tick "Thrombotic risk", then correct only the CK of an earlier cycle: saving
    created retroactive "infusion rate above the limit" deviations for infusions given before
    the risk was known."""
    first = enter_cycle(patient, 1)
    enter_cycle(patient, 2)
    versions = dict(TreatmentCycle.objects.values_list("number", "version"))
    patient.thrombotic_risk = True
    patient.thrombotic_risk_since = timezone.localdate()  # known from today, after both cycles
    patient_save(patient=patient, reason="Prior DVT found in the notes")
    assert dict(TreatmentCycle.objects.values_list("number", "version")) == versions  # nothing re-judged
    correct_ck(first, "2600", "CK transcription error")
    assert open_deviations(patient) == []
    assert not TreatmentCycle.objects.filter(at_risk=True).exists()
    assert set(Infusion.objects.values_list("rate_limit_ml_per_kg_min", flat=True)) == {
        rules.MAX_RATE_ML_PER_KG_MIN}


def test_a_risk_edit_rejudges_only_the_cycles_whose_risk_changes(patient):
    first = enter_cycle(patient, 1)
    second = enter_cycle(patient, 2)
    patient.thrombotic_risk = True
    patient.thrombotic_risk_since = second.start_date
    patient_save(patient=patient, reason="DVT diagnosed on the day of cycle 2")
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.version, first.at_risk) == (1, False)  # not touched
    assert (second.version, second.at_risk) == (2, True)
    assert second.history.first().history_change_reason == (
        "Derived facts recomputed: DVT diagnosed on the day of cycle 2")
    day1 = second.infusions.get(day=1)
    assert (day1.rate_limit_ml_per_kg_min, day1.rate_within_limit) == (rules.MAX_RATE_AT_RISK_ML_PER_KG_MIN, False)
    assert open_deviations(patient) == [(2, "rate", 1), (2, "rate", 2)]
    # Correcting cycle 1's CK afterwards leaves cycle 2's judgement and cycle 1 alone.
    correct_ck(first, "2500", "CK transcription error")
    assert open_deviations(patient) == [(2, "rate", 1), (2, "rate", 2)]
    assert TreatmentCycle.objects.get(pk=second.pk).version == 2


@pytest.mark.parametrize("field", ["renal_risk", "thrombotic_risk"])
def test_a_ticked_risk_needs_its_date(patient, field):
    setattr(patient, field, True)
    with pytest.raises(ValidationError) as caught:
        patient_save(patient=patient, reason="Screen updated")
    error = caught.value.error_dict[f"{field}_since"][0]
    assert error.code == "risk_date_required"
    patient.refresh_from_db()
    assert getattr(patient, field) is False  # nothing stored


@pytest.mark.req("URS-PRT-008")
def test_risk_in_force_on_the_cycle_date():
    on = date(2025, 5, 1)
    assert rules.risk_in_force(on, True, date(2025, 5, 1), False, None)
    assert not rules.risk_in_force(on, True, date(2025, 5, 2), False, None)
    assert rules.risk_in_force(on, False, None, True, date(2025, 1, 1))
    assert not rules.risk_in_force(on, False, date(2025, 1, 1), False, date(2025, 1, 1))


@pytest.mark.req("URS-CHG-001")
def test_recompute_derived_lists_a_rule_change_then_applies_it_with_history(patient, monkeypatch):
    enter_cycle(patient, 1, day1_dose="60.0")  # -14.3 %: an under-dose at 5 %
    day1 = Infusion.objects.get(day=1)
    assert open_deviations(patient) == [(1, "underdose", 1)]
    monkeypatch.setattr(rules, "DOSE_TOLERANCE", Decimal("0.20"))  # a protocol amendment

    call_command("recompute_derived", "--app", "visits", stdout=(out := io.StringIO()))
    assert "dose_within_tolerance False -> True (would change)" in out.getvalue()
    assert "open deviations" in out.getvalue() and "Dry run: 2 stored fact(s) would change" in out.getvalue()
    day1.refresh_from_db()
    assert (day1.dose_within_tolerance, day1.version) == (False, 1)  # nothing written
    assert open_deviations(patient) == [(1, "underdose", 1)]

    call_command("recompute_derived", "--app", "visits", "--apply", "--reason", "Amendment 3: 20 % tolerance",
                 stdout=(out := io.StringIO()))
    assert "(written)" in out.getvalue()
    day1.refresh_from_db()
    assert (day1.dose_within_tolerance, day1.version) == (True, 2)
    assert day1.history.first().history_change_reason == "Derived facts recomputed: Amendment 3: 20 % tolerance"
    assert open_deviations(patient) == []
    resolved = ProtocolDeviation.objects.current().get(kind="underdose")
    assert resolved.resolution == "Amendment 3: 20 % tolerance"
    # Once applied, nothing differs.
    call_command("recompute_derived", "--app", "visits", stdout=(out := io.StringIO()))
    assert "Dry run: 0 stored fact(s)" in out.getvalue()


@pytest.mark.req("URS-CHG-001")
def test_recompute_refuses_a_locked_casebook_and_reports_it(patient, monkeypatch):
    enter_cycle(patient, 1, day1_dose="60.0")
    type(patient).objects.filter(pk=patient.pk).update(locked_at=timezone.now())
    monkeypatch.setattr(rules, "DOSE_TOLERANCE", Decimal("0.20"))
    call_command("recompute_derived", "--app", "visits", "--apply", "--reason", "Amendment 3", stdout=(out := io.StringIO()))
    assert "dose_within_tolerance False -> True (not written: locked)" in out.getvalue()
    day1 = Infusion.objects.get(day=1)
    assert (day1.dose_within_tolerance, day1.version) == (False, 1)
    assert open_deviations(patient) == [(1, "underdose", 1)]


def test_derive_cycle_leaves_empty_what_it_cannot_derive():
    facts = rules.derive_cycle(start_date=START, previous_start=None, weight_kg=Decimal("100"), height_cm=None,
                               dosing_basis="adjusted", sex="F", renal_risk=False, renal_risk_since=None,
                               thrombotic_risk=False, thrombotic_risk_since=None)
    assert (facts.dosing_weight_kg, facts.prescribed_daily_dose_g, facts.planned_start_date,
            facts.window_offset_days, facts.within_window) == (None, None, None, None, None)
    infusion = rules.derive_infusion(day=1, dose_g=Decimal("70"), max_rate_ml_per_h=Decimal("150"),
                                     weight_kg=Decimal("100"), prescribed_daily_dose_g=None, at_risk=False)
    assert (infusion.prescribed_dose_g, infusion.dose_difference_pct, infusion.dose_within_tolerance) == (
        None, None, None)
    assert infusion.rate_within_limit is True


@pytest.mark.req("URS-PRT-004")
def test_derived_judgements_are_the_deviation_rules_at_their_edges():
    """Exactly at the tolerance and exactly at the limit are within (as the deviation rules say)."""
    at_tolerance = rules.derive_infusion(
        day=1, dose_g=Decimal("66.5"), max_rate_ml_per_h=rules.MAX_RATE_ML_PER_KG_MIN * 70 * 60,
        weight_kg=Decimal("70"), prescribed_daily_dose_g=Decimal("70.0"), at_risk=False)
    assert (at_tolerance.dose_difference_pct, at_tolerance.dose_within_tolerance) == (Decimal("-5.0"), True)
    assert at_tolerance.rate_within_limit is True
    over = rules.derive_infusion(
        day=1, dose_g=Decimal("66.4"), max_rate_ml_per_h=rules.MAX_RATE_ML_PER_KG_MIN * 70 * 60 + Decimal("0.1"),
        weight_kg=Decimal("70"), prescribed_daily_dose_g=Decimal("70.0"), at_risk=False)
    assert (over.dose_within_tolerance, over.rate_within_limit) == (False, False)
