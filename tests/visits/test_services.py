from datetime import date, timedelta
from decimal import Decimal

import pytest

from patients.services import patient_save
from tests.patients.factories import PatientFactory
from tests.visits.factories import full_cycle
from visits.models import ProtocolDeviation, TreatmentCycle
from visits.services import CycleParts, CyclePartsInvalid, cycle_parts_build, cycle_save, deviations_refresh

pytestmark = pytest.mark.django_db


@pytest.fixture
def patient(site_a):
    return PatientFactory(site=site_a, subject_id="01-001", consent_date=date(2025, 2, 20),
                          enrolment_date=date(2025, 3, 1))


@pytest.mark.req("URS-CHG-003")
def test_moving_a_cycle_rechecks_the_next_cycle_window(patient):
    first = full_cycle(patient, number=1)
    full_cycle(patient, number=2)
    deviations_refresh(cycle=TreatmentCycle.objects.get(number=2), reason="entry")
    assert not ProtocolDeviation.objects.exists()
    # Cycle 1 really started 10 days earlier: cycle 2 now falls outside its window.
    first.start_date -= timedelta(days=10)
    parts = CycleParts(cycle=first, expected_versions={"cycle": first.version})
    first.assessment.assessment_date = first.start_date
    parts.assessment = first.assessment
    parts.expected_versions["assessment"] = first.assessment.version
    day1 = first.infusions.get(day=1)
    day1.infusion_date = first.start_date
    parts.infusions = {1: day1}
    parts.expected_versions["day1"] = day1.version
    cycle_save(parts=parts, reason="Date corrected from the infusion chart")
    deviations = list(ProtocolDeviation.objects.all())
    kinds = sorted((d.cycle.number, d.kind) for d in deviations)
    assert kinds == [(1, "non_consecutive"), (2, "window")]


@pytest.mark.req("URS-PRT-008")
def test_risk_flag_lowers_the_rate_limit(patient):
    cycle = full_cycle(patient)  # 150 mL/h at 70 kg = 0.036 mL/kg/min
    assert deviations_refresh(cycle=cycle, reason="entry") == []
    patient.thrombotic_risk = True
    patient.thrombotic_risk_since = patient.enrolment_date  # known before the cycle
    patient_save(patient=patient, reason="Prior DVT found in the notes")
    # The patient edit re-judged the cycle (patients.services -> visits hook), with the reason.
    cycle = TreatmentCycle.objects.select_related("patient").get(pk=cycle.pk)
    assert cycle.at_risk and cycle.history.first().history_change_reason.endswith("Prior DVT found in the notes")
    found = list(cycle.deviations.open().order_by("day"))
    assert [(d.kind, d.day) for d in found] == [("rate", 1), ("rate", 2)]


@pytest.mark.req("URS-PRT-005")
def test_adjusted_body_weight_drives_the_prescription(patient):
    cycle = full_cycle(patient, weight_kg=Decimal("100"), height_cm=Decimal("165.1"), dosing_basis="adjusted")
    assert cycle.dosing_weight_kg == Decimal("74.2")  # female IBW 57 + 0.4 x (100 - 57)
    assert cycle.prescribed_daily_dose_g == Decimal("74.2")
    found = deviations_refresh(cycle=cycle, reason="entry")
    assert {d.kind for d in found} == {"overdose"}  # 100 g given on 74.2 kg
    assert date(2025, 3, 17) == cycle.start_date


# --- the one cycle-with-parts builder (form, API, ODM import) ---------------------------------------

def _infusion_data(day, on, dose="70"):
    return {"infusion_date": on, "lot": f"LOT-{day}", "concentration_pct": Decimal("10"),
            "volume_ml": Decimal(dose) * 10, "dose_g": Decimal(dose), "max_rate_ml_per_h": Decimal("150")}


CYCLE_DATA = {"start_date": date(2025, 3, 17), "weight_kg": Decimal("70"), "dosing_basis": "actual"}
ASSESSMENT_DATA = {"assessment_date": date(2025, 3, 17), "mmt_scale": "kendall", "ck_u_per_l": Decimal("2400"),
                   "ck_uln_u_per_l": Decimal("200")}


def test_the_builder_turns_plain_data_into_the_parts_cycle_save_stores(patient):
    parts = cycle_parts_build(patient=patient, cycle_data=CYCLE_DATA, assessment_data=ASSESSMENT_DATA,
                              infusions_data={1: _infusion_data(1, date(2025, 3, 17)),
                                              2: _infusion_data(2, date(2025, 3, 18), dose="60")})
    assert parts.cycle.pk is None and parts.cycle.number is None  # taken under the patient's lock
    assert parts.assessment.timepoint == "pre_cycle" and parts.assessment.patient == patient
    assert sorted(parts.infusions) == [1, 2] and parts.infusions[2].cycle is parts.cycle
    assert not TreatmentCycle.objects.exists()  # nothing written by the builder

    deviations = cycle_save(parts=parts, reason="")
    cycle = TreatmentCycle.objects.get()
    assert (cycle.number, cycle.assessment.mmt_total, cycle.infusions.count()) == (1, None, 2)
    assert [(d.kind, d.day) for d in deviations] == [("underdose", 2)]


def test_the_builder_reports_every_part_at_once_on_its_own_fields(patient):
    with pytest.raises(CyclePartsInvalid) as caught:
        cycle_parts_build(patient=patient, cycle_data={**CYCLE_DATA, "weight_kg": Decimal("0")},
                          assessment_data={**ASSESSMENT_DATA, "ck_u_per_l": Decimal("-5")},
                          infusions_data={1: _infusion_data(1, date(2025, 3, 20)), 2: None})
    codes = {part: {name: [e.code for e in errors] for name, errors in error.error_dict.items()}
             for part, error in caught.value.errors.items()}
    assert codes == {"cycle": {"weight_kg": ["implausible_weight"]},
                     "assessment": {"ck_u_per_l": ["negative"]},
                     "day1": {"infusion_date": ["day1_not_cycle_start"]}}


def test_an_edit_rechecks_the_stored_parts_against_the_changed_cycle(patient):
    cycle = full_cycle(patient)
    with pytest.raises(CyclePartsInvalid) as caught:
        cycle_parts_build(patient=patient, cycle=cycle, cycle_data={"start_date": date(2025, 3, 20)},
                          expected_versions={"cycle": cycle.version})
    assert set(caught.value.errors) == {"day1", "day2"}  # (an assessment may precede day 1)
    assert [e.code for e in caught.value.errors["day1"].error_dict["infusion_date"]] == ["day1_not_cycle_start"]


def test_the_creation_reason_is_kept_on_the_created_parts_and_deviations(patient):
    parts = cycle_parts_build(patient=patient, cycle_data=CYCLE_DATA,
                              infusions_data={1: _infusion_data(1, date(2025, 3, 17))})
    parts.creation_reason = "Imported from ODM file a.xml"
    cycle_save(parts=parts, reason="Imported from ODM file a.xml")
    cycle = TreatmentCycle.objects.get()
    rows = [*cycle.history.all(), *cycle.infusions.get().history.all(), *ProtocolDeviation.history.all()]
    assert len(rows) == 3  # the cycle, day 1, the missing day 2
    assert {r.history_change_reason for r in rows} == {"Imported from ODM file a.xml"}
    # Entry by hand: a first entry needs no reason, none is stored.
    second = cycle_parts_build(patient=patient, cycle_data={**CYCLE_DATA, "start_date": date(2025, 4, 14)})
    cycle_save(parts=second, reason="")
    assert second.cycle.history.get().history_change_reason is None


def test_the_form_shows_the_builders_errors_on_each_part_beside_the_parse_errors(patient):
    from visits.forms import CycleEntry

    data = {"cycle-start_date": "2025-03-17", "cycle-weight_kg": "0", "cycle-dosing_basis": "actual",
            "assessment-assessment_date": "2025-03-17", "assessment-mmt_scale": "kendall",
            "assessment-ck_u_per_l": "-5", "assessment-ck_uln_u_per_l": "200",
            "day1-infusion_date": "2025-03-17", "day1-lot": "L1", "day1-concentration_pct": "10",
            "day1-volume_ml": "700", "day1-dose_g": "abc", "day1-max_rate_ml_per_h": "150",
            "day1-product": "Polyvalent IVIG 10 %"}
    entry = CycleEntry(data, patient=patient)
    assert not entry.is_valid()
    codes = {part: {name: [e.code for e in errors] for name, errors in entry[part].errors.as_data().items()}
             for part in ("cycle", "assessment", "day1")}
    assert codes == {"cycle": {"weight_kg": ["implausible_weight"]}, "assessment": {"ck_u_per_l": ["negative"]},
                     "day1": {"dose_g": ["invalid"]}}
    assert entry.parts is None and not TreatmentCycle.objects.exists()
