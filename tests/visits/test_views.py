from datetime import date
from decimal import Decimal

import pytest
from django.urls import reverse

from tests.patients.factories import PatientFactory
from tests.visits.factories import full_cycle
from visits.models import Assessment, Infusion, ProtocolDeviation, TreatmentCycle

pytestmark = pytest.mark.django_db

GRADES = ["neck_flexors", "deltoid", "biceps", "wrist_extensors", "gluteus_maximus", "gluteus_medius",
          "quadriceps", "ankle_dorsiflexors"]


def cycle_post(start="2025-03-17", weight="70", day1_dose="70", day2_dose="70", day2_date=None,
               **overrides):
    from datetime import date as d, timedelta
    start_date = d.fromisoformat(start)
    data = {
        "cycle-start_date": start, "cycle-weight_kg": weight, "cycle-height_cm": "",
        "cycle-dosing_basis": "actual",
        "assessment-assessment_date": (start_date - timedelta(days=1)).isoformat(),
        "assessment-mmt_scale": "kendall", "assessment-ck_u_per_l": "2400",
        "assessment-ck_uln_u_per_l": "200",
        **{f"assessment-mmt_{g}": "7" for g in GRADES},
    }
    for day, dose, when in ((1, day1_dose, start_date), (2, day2_dose,
                                                         d.fromisoformat(day2_date) if day2_date
                                                         else start_date + timedelta(days=1))):
        if dose is None:
            data.update({f"day{day}-product": "Polyvalent IVIG 10 %", f"day{day}-concentration_pct": "10"})
            continue
        data.update({
            f"day{day}-infusion_date": when.isoformat(), f"day{day}-product": "Polyvalent IVIG 10 %",
            f"day{day}-lot": "A1", f"day{day}-concentration_pct": "10",
            f"day{day}-volume_ml": str(Decimal(dose) * 10), f"day{day}-dose_g": dose,
            f"day{day}-max_rate_ml_per_h": "150",
        })
    data.update(overrides)
    return data


@pytest.fixture
def patient(site_a):
    return PatientFactory(site=site_a, subject_id="01-001")


def create_url(patient):
    return reverse("visits:cycle_create", args=[patient.pk])


@pytest.mark.req("URS-PRT-020")
def test_record_cycle_without_deviation(client_for, clinician, patient):
    client = client_for(clinician)
    assert client.get(create_url(patient)).status_code == 200
    response = client.post(create_url(patient), cycle_post())
    assert response.status_code == 302, response.context and [f.errors for f in response.context["entry"].forms.values()]
    cycle = TreatmentCycle.objects.get(patient=patient)
    assert cycle.number == 1
    assert cycle.prescribed_daily_dose_g == Decimal("70.0")
    assert Infusion.objects.filter(cycle=cycle).count() == 2
    assert cycle.assessment.mmt_total == 56
    assert not ProtocolDeviation.objects.exists()
    # Every record has its creation history row, with the user.
    for model in (TreatmentCycle, Assessment, Infusion):
        rows = model.history.all()
        assert rows and all(r.history_type == "+" and r.history_user == clinician for r in rows)


@pytest.mark.req("URS-PRT-004")
def test_underdose_on_day_2_is_a_deviation_everywhere(client_for, clinician, patient):
    client = client_for(clinician)
    response = client.post(create_url(patient), cycle_post(day2_dose="60"), follow=True)
    deviation = ProtocolDeviation.objects.get()
    assert (deviation.kind, deviation.day, deviation.is_open) == ("underdose", 2, True)
    assert "60.0 g given, 70.0 g prescribed" in deviation.description
    html = response.content.decode()
    assert "1 protocol deviation" in html and "Under-dose (day 2)" in html  # message and timeline
    form_page = client.get(reverse("visits:cycle_update", args=[patient.pk, 1]))
    assert "60.0 g given, 70.0 g prescribed" in form_page.content.decode()
    log = client.get(reverse("visits:deviation_list"))
    assert list(log.context["deviations"]) == [deviation]


@pytest.mark.req("URS-PRT-006")
def test_missing_day_2_is_a_deviation(client_for, clinician, patient):
    client_for(clinician).post(create_url(patient), cycle_post(day2_dose=None))
    assert Infusion.objects.count() == 1
    assert ProtocolDeviation.objects.get().kind == "missing_day"


@pytest.mark.req("URS-PRT-007")
def test_late_cycle_is_a_window_deviation(client_for, clinician, patient):
    client = client_for(clinician)
    client.post(create_url(patient), cycle_post())
    client.post(create_url(patient), cycle_post(start="2025-05-19"))  # 9 weeks later
    deviation = ProtocolDeviation.objects.get()
    assert (deviation.kind, deviation.cycle.number) == ("window", 2)
    assert "+35 days from the planned 2025-04-14" in deviation.description


@pytest.mark.req("URS-CHK-001")
def test_negative_ck_is_a_field_error_and_stores_nothing(client_for, clinician, patient):
    response = client_for(clinician).post(create_url(patient), cycle_post(**{"assessment-ck_u_per_l": "-5"}))
    assert response.status_code == 200
    errors = response.context["entry"]["assessment"].errors
    assert errors["ck_u_per_l"] == ["CK cannot be negative."]
    assert "CK cannot be negative." in response.content.decode()
    for model in (TreatmentCycle, Assessment, Infusion, ProtocolDeviation):
        assert not model.objects.exists()
        assert not model.history.exists()


@pytest.mark.parametrize(
    "overrides, part, field",
    [
        ({"cycle-weight_kg": "0"}, "cycle", "weight_kg"),
        ({"cycle-weight_kg": "351"}, "cycle", "weight_kg"),
        ({"cycle-height_cm": "99"}, "cycle", "height_cm"),
        ({"cycle-dosing_basis": "adjusted"}, "cycle", "height_cm"),
        ({"cycle-start_date": "2025-03-01", "day1-infusion_date": "2025-03-01",
          "assessment-assessment_date": "2025-03-01", "day2-infusion_date": "2025-03-02"}, "cycle", "start_date"),
        ({"assessment-mmt_biceps": "11"}, "assessment", "mmt_biceps"),
        ({"assessment-assessment_date": "2025-03-18"}, "assessment", "assessment_date"),
        ({"day1-infusion_date": "2025-03-18"}, "day1", "infusion_date"),
        ({"day2-infusion_date": "2025-03-16"}, "day2", "infusion_date"),
        ({"day1-dose_g": "abc"}, "day1", "dose_g"),
        ({"cycle-start_date": "2099-01-01"}, "cycle", "start_date"),
    ],
)
def test_bad_input_gets_a_field_error(client_for, clinician, patient, overrides, part, field):
    response = client_for(clinician).post(create_url(patient), cycle_post(**overrides))
    assert response.status_code == 200
    assert field in response.context["entry"][part].errors, response.context["entry"][part].errors
    assert not TreatmentCycle.objects.exists()


@pytest.mark.req("URS-OPS-004")
def test_infusion_after_withdrawal_is_refused(client_for, clinician, site_a):
    patient = PatientFactory(site=site_a, subject_id="01-002", status="withdrawn",
                             withdrawal_date=date(2025, 3, 16), withdrawal_reason="moved")
    response = client_for(clinician).post(create_url(patient), cycle_post())
    assert "start_date" in response.context["entry"]["cycle"].errors
    assert not TreatmentCycle.objects.exists()


@pytest.mark.req("URS-PRO-007")
def test_save_is_all_or_nothing(client_for, clinician, patient, monkeypatch):
    """A failure after the cycle row was written rolls everything back."""
    from visits import services

    def boom(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(services, "deviations_refresh", boom)
    client = client_for(clinician)
    client.raise_request_exception = False
    response = client.post(create_url(patient), cycle_post())
    assert response.status_code == 500
    for model in (TreatmentCycle, Assessment, Infusion):
        assert not model.objects.exists()
        assert not model.history.exists()


@pytest.mark.req("URS-PRT-009")
def test_correction_needs_a_reason_and_resolves_the_deviation(client_for, clinician, patient):
    client = client_for(clinician)
    client.post(create_url(patient), cycle_post(day2_dose="60"))
    day2 = Infusion.objects.get(day=2)
    url = reverse("visits:cycle_update", args=[patient.pk, 1])
    page = client.get(url)
    data = cycle_post(day2_dose="70")
    cycle = TreatmentCycle.objects.get()
    data.update({"cycle-expected_version": cycle.version,
                 "assessment-expected_version": cycle.assessment.version,
                 "day1-expected_version": Infusion.objects.get(day=1).version,
                 "day2-expected_version": day2.version})
    response = client.post(url, data)
    assert response.context["entry"].reason_errors == ["Give a reason for changing a saved record."]
    assert Infusion.objects.get(day=2).dose_g == Decimal("60")

    data["change_reason"] = "Pump log shows 70 g"
    response = client.post(url, data)
    assert response.status_code == 302
    day2.refresh_from_db()
    assert day2.dose_g == Decimal("70.0")
    row = day2.history.latest()
    assert (row.history_type, row.history_change_reason, row.history_user) == ("~", "Pump log shows 70 g", clinician)
    deviation = ProtocolDeviation.objects.current().get()  # the log: one deviation, resolved
    assert deviation.resolved_at is not None and "Pump log shows 70 g" in deviation.resolution
    # The resolution is a new row; the open one is kept as it was (append-only).
    assert deviation.predecessor.resolved_at is None and ProtocolDeviation.objects.count() == 2
    # Unchanged parts wrote no history row.
    assert TreatmentCycle.history.count() == 1 and Assessment.history.count() == 1
    assert page.status_code == 200


@pytest.mark.req("URS-PRO-006")
def test_stale_cycle_edit_overwrites_nothing(client_for, clinician, patient):
    client = client_for(clinician)
    client.post(create_url(patient), cycle_post())
    cycle = TreatmentCycle.objects.get()
    url = reverse("visits:cycle_update", args=[patient.pk, 1])
    base = cycle_post()
    base.update({"cycle-expected_version": 1, "assessment-expected_version": 1, "day1-expected_version": 1,
                 "day2-expected_version": 1, "change_reason": "x"})
    first = {**base, "cycle-weight_kg": "71"}
    second = {**base, "cycle-weight_kg": "72"}
    assert client.post(url, first).status_code == 302
    response = client.post(url, second)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Someone else saved this record" in html
    # It says who changed what, and why.
    assert f"{clinician.get_full_name() or clinician.username} changed Weight" in html
    assert "70.0 → 71.0" in html and "Reason: “x”" in html
    cycle.refresh_from_db()
    assert cycle.weight_kg == Decimal("71.0")


def test_site_isolation_and_read_only_roles(client_for, clinician_b, coordinator, monitor, patient):
    full_cycle(patient)
    client = client_for(clinician_b)
    assert client.get(create_url(patient)).status_code == 404
    assert client.get(reverse("visits:timeline", args=[patient.pk])).status_code == 404
    assert client.get(reverse("visits:cycle_update", args=[patient.pk, 1])).status_code == 404
    assert client.get(reverse("visits:deviation_list")).context["paginator"].count == 0
    for user in (coordinator, monitor):
        client = client_for(user)
        assert client.get(reverse("visits:timeline", args=[patient.pk])).status_code == 200
        assert client.post(create_url(patient), cycle_post()).status_code == 403
    assert TreatmentCycle.objects.count() == 1


@pytest.mark.parametrize("cycles", [1, 6])
def test_timeline_runs_a_constant_number_of_queries(client_for, clinician, patient, cycles,
                                                    django_assert_num_queries):
    for n in range(1, cycles + 1):
        full_cycle(patient, number=n, day2_dose=Decimal("60") if n % 2 else None)
    client = client_for(clinician)
    # session, user, memberships, role permissions (one query, issue 12), patient, adverse events,
    # cycles+assessments, infusions, deviations, end-of-treatment assessment; the review
    # state: signatures, verifications, data queries; the missed cycles
    with django_assert_num_queries(14):
        response = client.get(reverse("visits:timeline", args=[patient.pk]))
    assert len(response.context["rows"]) == cycles


@pytest.mark.parametrize("cycles", [0, 3])
def test_record_cycle_page_runs_a_constant_number_of_queries(client_for, clinician, patient, cycles,
                                                             django_assert_num_queries):
    for n in range(1, cycles + 1):
        full_cycle(patient, number=n)
    client = client_for(clinician)
    # session, user, memberships, role permissions (one query, issue 12), patient, its lock, the previous
    # cycle with its assessment (its number + 1 is the new one's; what it carries forward; the start the
    # window counts from) and its infusions (none to read before a first cycle): nothing per cycle of the
    # patient's history
    with django_assert_num_queries(8 if cycles else 7) as captured:
        response = client.get(create_url(patient))
    assert sum("MAX(" in q["sql"] for q in captured.captured_queries) == 0
    assert response.context["number"] == cycles + 1
    assert f"Record cycle {cycles + 1} for 01-001" in response.content.decode()


def test_timeline_shows_ck_change_and_chart(client_for, clinician, patient):
    first = full_cycle(patient, number=1)
    second = full_cycle(patient, number=2)
    second.assessment.ck_u_per_l = Decimal("600")
    second.assessment.save()
    response = client_for(clinician).get(reverse("visits:timeline", args=[patient.pk]))
    rows = response.context["rows"]
    assert rows[1].ck_change_pct == Decimal("-75.0")
    assert rows[1].planned_date == date(2025, 4, 14)
    assert response.context["chart"]["points"][1]["value"] == 600
    assert "<svg" in response.content.decode()
    assert first.number == 1


def test_end_of_treatment_assessment(client_for, clinician, patient):
    full_cycle(patient)
    client = client_for(clinician)
    url = reverse("visits:end_of_treatment", args=[patient.pk])
    data = {"assessment_date": "2025-03-10", "mmt_scale": "kendall", "ck_u_per_l": "300",
            "ck_uln_u_per_l": "200"}
    response = client.post(url, data)
    assert "assessment_date" in response.context["form"].errors  # before the last cycle
    data["assessment_date"] = "2025-04-14"
    assert client.post(url, data).status_code == 302
    eot = Assessment.objects.get(timepoint="end")
    assert eot.cycle is None
    response = client.get(reverse("visits:timeline", args=[patient.pk]))
    assert response.context["rows"][-1].label == "End of treatment"
    assert response.context["rows"][-1].ck_change_pct == Decimal("-87.5")


@pytest.mark.req("URS-PRT-009")
def test_deviation_log_per_patient(client_for, monitor, patient, site_a):
    from visits.services import deviations_refresh
    other = PatientFactory(site=site_a, subject_id="01-002")
    for p in (patient, other):
        deviations_refresh(cycle=full_cycle(p, day2_dose=Decimal("60")), reason="entry")
    response = client_for(monitor).get(reverse("visits:deviation_list"), {"patient": patient.pk})
    assert [d.patient for d in response.context["deviations"]] == [patient]


def test_patient_page_times_malignancies_against_the_infusions(client_for, clinician, patient):
    from patients.services import patient_facts_refresh
    from tests.patients.factories import MalignancyFactory
    full_cycle(patient)  # infusions on 2025-03-17 and 2025-03-18 (saved without the service:
    patient_facts_refresh(patient, reason="test data")  # the stored first infusion follows)
    before = MalignancyFactory(patient=patient, diagnosis_date=date(2025, 3, 16))
    during = MalignancyFactory(patient=patient, diagnosis_date=date(2025, 3, 18), malignancy_type="Ovarian")
    response = client_for(clinician).get(patient.get_absolute_url())
    timing = {m.pk: m.timing_label for m in response.context["malignancies"]}
    assert timing == {before.pk: "before", during.pk: "during"}
    assert "months before the first infusion" in response.content.decode()
