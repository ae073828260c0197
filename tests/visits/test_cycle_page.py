"""The record-cycle page a clinician works in all day (issue 14, item 4): an error summary linking
to each field and red borders, one dose status per day, values carried forward from the previous
cycle, the planned date and window and day 2 checked while typing (through the preview, from
visits/rules.py), and the enrolment form's site preselected for a single-site user."""

import re
from datetime import date
from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.models import Membership
from tests.patients.factories import PatientFactory
from tests.visits.factories import full_cycle
from tests.visits.test_views import cycle_post
from visits import rules
from visits.models import Assessment, TreatmentCycle

pytestmark = pytest.mark.django_db


@pytest.fixture
def patient(site_a):
    return PatientFactory(site=site_a, subject_id="01-001", sex="M")


def create_url(patient):
    return reverse("visits:cycle_create", args=[patient.pk])


def preview(client, patient, **params):
    return client.get(reverse("visits:cycle_preview", args=[patient.pk]), params)


def summary_links(html):
    block = re.search(r'<div class="alert alert-danger error-summary" id="error-summary" role="alert".*?</div>',
                      html, re.S)
    assert block, "no error summary"
    return block.group(0), re.findall(r'<a class="alert-link" href="#([^"]+)"', block.group(0))


# --- Errors that cannot be missed -------------------------------------------------------------

@pytest.mark.req("URS-CHK-007")
def test_refused_cycle_has_a_summary_linking_to_each_invalid_field(client_for, clinician, patient):
    data = cycle_post(**{"cycle-weight_kg": "heavy", "day1-lot": "", "assessment-mmt_deltoid": "x"})
    response = client_for(clinician).post(create_url(patient), data)
    assert response.status_code == 200 and not TreatmentCycle.objects.exists()
    html = response.content.decode()
    block, links = summary_links(html)
    assert links == ["id_cycle-weight_kg", "id_assessment-mmt_deltoid", "id_day1-lot"]
    assert "There are 3 problems" in block and "Visit: Weight (kg): Enter a number." in block
    assert 'js/error_summary.js' in html  # the focus moves to the summary (a static script: CSP)
    for link in links:  # each linked field: a red border, and its error text named by the input
        tag = re.search(rf'<(?:input|select)[^<]*?id="{link}"', html).group(0)
        assert "is-invalid" in tag and 'aria-invalid="true"' in tag, tag
        assert re.search(rf'aria-describedby="[^"]*{link}_error"', tag), tag
        assert f'id="{link}_error"' in html
    # A valid field is left plain.
    start = re.search(r'<input[^>]*id="id_cycle-start_date"', html).group(0)
    assert "is-invalid" not in start


def test_a_page_without_errors_has_no_summary(client_for, clinician, patient):
    html = client_for(clinician).get(create_url(patient)).content.decode()
    assert "error-summary" not in html and "is-invalid" not in html


def test_the_generic_record_form_has_the_summary_too(client_for, clinician, site_a):
    response = client_for(clinician).post(reverse("patients:patient_create"), {
        "subject_id": "", "site": site_a.pk, "sex": "F", "birth_year": "1970", "race": "WHITE",
        "consent_date": "2025-03-01", "enrolment_date": "2025-03-10", "symptom_onset_date": "2024-12-01",
        "suspected_cause": "none", "status": "on_study"})
    assert response.status_code == 200
    html = response.content.decode()
    block, links = summary_links(html)
    assert "id_subject_id" in links
    assert re.search(r'There (are \d+ problems|is 1 problem)', block)
    tag = re.search(r'<input[^>]*id="id_subject_id"[^>]*>', html).group(0)
    assert "is-invalid" in tag and 'aria-invalid="true"' in tag


# --- One dose status per day ------------------------------------------------------------------

def test_a_saved_dose_error_is_the_days_dose_status(client_for, clinician, patient):
    """A volume/dose mismatch refused on day 1: its status area is marked so the live preview does not
    show a green "within 5 %" beside it; day 2 (no error) is left to the preview."""
    data = cycle_post(**{"day1-volume_ml": "200"})  # 200 mL of 10 % is 20 g, not 70 g
    html = client_for(clinician).post(create_url(patient), data).content.decode()
    assert 'id="id_day1-volume_ml_error"' in html
    assert '<div class="small dose-check" data-day="1" aria-live="polite" data-dose-error="1"></div>' in html
    assert '<div class="small dose-check" data-day="2" aria-live="polite"></div>' in html


# --- Carry forward ----------------------------------------------------------------------------

def _previous(patient):
    cycle = full_cycle(patient, number=1, height_cm=Decimal("178.0"), dosing_basis="adjusted")
    Assessment.objects.filter(cycle=cycle).update(
        ck_lln_u_per_l=Decimal("30"), ck_uln_u_per_l=Decimal("190"), aldolase_uln_u_per_l=Decimal("7.6"),
        ldh_uln_u_per_l=Decimal("250"), ast_uln_u_per_l=Decimal("40"), alt_uln_u_per_l=Decimal("45"))
    cycle.infusions.update(product="Privigen", concentration_pct=Decimal("10"))
    cycle.infusions.filter(day=2).update(concentration_pct=Decimal("5"))
    return cycle


@pytest.mark.req("URS-PRT-020")
def test_a_new_cycle_carries_forward_the_previous_cycles_values(client_for, clinician, patient):
    _previous(patient)
    response = client_for(clinician).get(create_url(patient))
    entry = response.context["entry"]
    assert entry["cycle"]["weight_kg"].value() == Decimal("70.0")
    assert entry["cycle"]["height_cm"].value() == Decimal("178.0")
    assert entry["cycle"]["dosing_basis"].value() == "adjusted"
    assessment = entry["assessment"]
    assert [assessment[name].value() for name in ("ck_lln_u_per_l", "ck_uln_u_per_l", "aldolase_uln_u_per_l",
                                                  "ldh_uln_u_per_l", "ast_uln_u_per_l", "alt_uln_u_per_l")] == [
        Decimal("30"), Decimal("190"), Decimal("7.6"), Decimal("250"), Decimal("40"), Decimal("45")]
    assert assessment["mmt_scale"].value() == "kendall"
    assert assessment["ck_u_per_l"].value() is None  # a result is never carried
    assert entry["day1"]["product"].value() == entry["day2"]["product"].value() == "Privigen"
    assert entry["day1"]["concentration_pct"].value() == Decimal("10")
    assert entry["day2"]["concentration_pct"].value() == Decimal("5")  # each day from its own day
    assert entry["day1"]["lot"].value() == "" and entry["day1"]["dose_g"].value() is None
    html = response.content.decode()
    assert 'name="cycle-weight_kg" value="70.0"' in html and 'value="Privigen"' in html
    assert html.count("carried forward from cycle 1 (2025-03-17): check them.") == 3
    assert response.context["number"] == 2


def test_a_first_cycle_carries_nothing(client_for, clinician, patient):
    response = client_for(clinician).get(create_url(patient))
    assert "carried forward" not in response.content.decode()
    assert response.context["entry"]["cycle"]["weight_kg"].value() is None
    assert "First cycle: no planned date." in response.content.decode()


def test_an_edit_carries_nothing_and_shows_its_own_values(client_for, clinician, patient):
    _previous(patient)
    full_cycle(patient, number=2, weight_kg=Decimal("72.0"))
    response = client_for(clinician).get(reverse("visits:cycle_update", args=[patient.pk, 2]))
    assert "carried forward" not in response.content.decode()
    assert response.context["entry"]["cycle"]["weight_kg"].value() == Decimal("72.0")
    # The window of cycle 2 counts from cycle 1's start.
    assert "Planned: <strong>2025-04-14</strong> (window 2025-04-07 to 2025-04-21)" in response.content.decode()


def test_a_day_2_left_empty_with_carried_values_is_not_given(client_for, clinician, patient):
    """The carried product and concentration of an untouched day 2 do not enter a day 2."""
    _previous(patient)
    client = client_for(clinician)
    entry = client.get(create_url(patient)).context["entry"]
    data = cycle_post(start="2025-04-14", day2_dose=None)
    data.update({"day2-product": entry["day2"]["product"].value(),
                 "day2-concentration_pct": str(entry["day2"]["concentration_pct"].value())})
    response = client.post(create_url(patient), data)
    assert response.status_code == 302
    cycle = TreatmentCycle.objects.get(patient=patient, number=2)
    assert list(cycle.infusions.values_list("day", flat=True)) == [1]


# --- Planned date, window and day 2 in the preview --------------------------------------------

@pytest.mark.req("URS-PRT-020")
def test_the_page_shows_the_planned_date_and_window(client_for, clinician, patient):
    _previous(patient)
    html = client_for(clinician).get(create_url(patient)).content.decode()
    planned, earliest, latest = rules.visit_window(date(2025, 3, 17))
    assert (f"Planned: <strong>{planned:%Y-%m-%d}</strong> (window {earliest:%Y-%m-%d} to {latest:%Y-%m-%d})"
            in html)
    assert 'data-cycle-number="2"' in html and 'id="window-check"' in html and 'id="day2-check"' in html


def test_preview_judges_the_start_against_the_window(client_for, clinician, patient):
    _previous(patient)  # started 2025-03-17: planned 2025-04-14, window 2025-04-07 to 2025-04-21
    client = client_for(clinician)
    inside = preview(client, patient, cycle="2", start_date="2025-04-20").json()["schedule"]
    assert inside == {"previous_start": "2025-03-17", "planned_date": "2025-04-14", "earliest": "2025-04-07",
                      "latest": "2025-04-21", "start_date": "2025-04-20", "offset_days": 6,
                      "within_window": True, "message": None}
    outside = preview(client, patient, cycle="2", start_date="2025-04-25").json()["schedule"]
    assert outside["within_window"] is False and outside["offset_days"] == 11
    assert outside["message"] == rules.window_deviation(start=date(2025, 4, 25),
                                                        previous_start=date(2025, 3, 17)).description
    untyped = preview(client, patient, cycle="2").json()["schedule"]
    assert untyped["planned_date"] == "2025-04-14" and untyped["within_window"] is None


def test_preview_window_counts_from_the_cycle_before_the_one_edited(client_for, clinician, patient):
    _previous(patient)
    full_cycle(patient, number=2)
    client = client_for(clinician)
    assert preview(client, patient, cycle="2").json()["schedule"]["previous_start"] == "2025-03-17"
    assert preview(client, patient, cycle="3").json()["schedule"]["previous_start"] == "2025-04-14"
    assert preview(client, patient, cycle="1").json()["schedule"] is None  # a first cycle has no window


@pytest.mark.req("URS-PRT-006")
def test_preview_gives_day_2s_date_and_checks_it(client_for, clinician, patient):
    client = client_for(clinician)
    filled = preview(client, patient, day1_date="2025-03-31").json()["day2"]
    assert filled == {"expected_date": "2025-04-01", "date": None, "consecutive": None, "message": None}
    apart = preview(client, patient, day1_date="2025-03-31", day2_date="2025-04-03").json()["day2"]
    assert apart["consecutive"] is False and "3 days after day 1" in apart["message"]
    next_day = preview(client, patient, day1_date="2025-03-31", day2_date="2025-04-01").json()["day2"]
    assert next_day["consecutive"] is True and next_day["message"] is None
    assert preview(client, patient, day1_date="31/03/2025").status_code == 400


def test_rules_window_and_day_2():
    assert rules.visit_window(None) is None
    planned, earliest, latest = rules.visit_window(date(2025, 3, 17))
    assert rules.window_deviation(start=earliest, previous_start=date(2025, 3, 17)) is None
    assert rules.window_deviation(start=latest, previous_start=date(2025, 3, 17)) is None
    assert rules.window_deviation(start=date(2025, 4, 22), previous_start=date(2025, 3, 17)) is not None
    assert rules.window_deviation(start=date(2025, 4, 6), previous_start=date(2025, 3, 17)) is not None
    assert rules.expected_day2_date(date(2025, 3, 31)) == date(2025, 4, 1)
    assert rules.day_deviations(day1=date(2025, 3, 31), day2=rules.expected_day2_date(date(2025, 3, 31))) == []


# --- The site preselected for a single-site user ----------------------------------------------

def test_enrolment_preselects_the_only_site(client_for, clinician, site_a, site_b):
    response = client_for(clinician).get(reverse("patients:patient_create"))
    form = response.context["form"]
    assert form["site"].value() == site_a.pk
    assert list(form.fields["site"].queryset) == [site_a]
    assert re.search(rf'<option value="{site_a.pk}" selected>', response.content.decode())


def test_enrolment_preselects_nothing_for_a_user_of_two_sites(client_for, clinician, site_a, site_b):
    Membership.objects.create(user=clinician, role="clinician", site=site_b)
    form = client_for(clinician).get(reverse("patients:patient_create")).context["form"]
    assert form["site"].value() is None
    assert set(form.fields["site"].queryset) == {site_a, site_b}
