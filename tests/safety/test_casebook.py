"""Issue 14, item 1: read-only case report forms (``core.crf``) for every record and role,
locked or not, with their derived facts, deviations, review state and full history; the
casebook page; the sign page showing what is signed; constant query counts."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.test import RequestFactory
from django.urls import reverse

from core import crf
from core.services import record_save
from oversight import services as oversight_services
from oversight.forms_ae import FollowUpForm
from review import services as review_services
from safety import services as safety_services
from safety.models import AdverseEvent, AdverseEventFollowUp
from tests.patients.factories import DiagnosisFactory, MalignancyFactory, PatientFactory
from tests.visits.factories import AssessmentFactory, full_cycle
from visits.forms import AssessmentForm, CycleForm, InfusionForm
from visits.models import Assessment, AssessmentTimepoint, Infusion

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery"


@pytest.fixture
def patient(site_a):
    return PatientFactory(site=site_a, subject_id="01-001")


@pytest.fixture
def cycle(patient):
    return full_cycle(patient)


def make_event(patient, term="Headache", onset=None, follow_up_by=None, **overrides):
    values = dict(patient=patient, term=term, onset_date=onset or patient.enrolment_date + timedelta(days=3),
                  grade=2, relatedness="possible", action_taken="none", outcome="recovering")
    values.update(overrides)
    event = safety_services.adverse_event_save(event=AdverseEvent(**values))
    if follow_up_by is not None:
        safety_services.adverse_event_follow_up(
            adverse_event=event, user=follow_up_by, follow_up_date=event.onset_date + timedelta(days=2),
            note="Settling with paracetamol.", outcome="recovering")
    return event


def cycle_view(patient, number=1):
    return reverse("visits:cycle_detail", args=[patient.pk, number])


def casebook_url(patient):
    return reverse("casebook:casebook_detail", args=[patient.pk])


def row(html, model, pk, field):
    """The text of one field row of a read-only form (its stable id)."""
    marker = f'id="f-{model}-{pk}-{field}"'
    assert marker in html, f"no row {marker}"
    start = html.index(marker)
    return html[start:html.index("</tr>", start)]


# --- the renderer -------------------------------------------------------------------

def test_the_cycle_form_lists_the_edit_forms_fields_in_order_then_the_stored_facts(cycle):
    fields = crf.crf_fields(cycle)
    entered = [f.name for f in fields if not f.derived]
    derived = [f.name for f in fields if f.derived]
    assert entered == ["number", *CycleForm._meta.fields]
    assert derived[:3] == ["dosing_weight_kg", "prescribed_daily_dose_g", "prescribed_cycle_dose_g"]
    assert {"planned_start_date", "window_offset_days", "within_window", "at_risk"} <= set(derived)
    by_name = {f.name: f for f in fields}
    assert by_name["prescribed_cycle_dose_g"].value == str(cycle.prescribed_daily_dose_g * 2)
    assert by_name["dosing_basis"].value == cycle.get_dosing_basis_display()  # the label, not the code
    assert by_name["start_date"].value == cycle.start_date.isoformat()
    assert by_name["weight_kg"].row_id == f"f-treatmentcycle-{cycle.pk}-weight_kg"


def test_every_record_type_has_a_layout_in_its_edit_forms_order():
    assert crf.layout_for(Assessment).fields == tuple(AssessmentForm._meta.fields)
    assert crf.layout_for(Infusion).fields == ("day", *InfusionForm._meta.fields)
    # The follow-up is entered on the AE review page's form (oversight): same fields, same order.
    assert crf.layout_for(AdverseEventFollowUp).fields == tuple(FollowUpForm._meta.fields)
    with pytest.raises(LookupError):
        crf.layout_for(object)


# --- the cycle view, every role, locked or not --------------------------------------------

@pytest.mark.parametrize("role", ["clinician", "investigator", "coordinator", "monitor", "admin_user"])
@pytest.mark.req("URS-CPY-006")
def test_every_role_views_a_locked_cycle_read_only(request, client_for, admin_user, patient, cycle, role):
    oversight_services.record_lock(record=cycle, user=admin_user, reason="Database lock")
    user = request.getfixturevalue(role)
    response = client_for(user).get(cycle_view(patient))
    assert response.status_code == 200
    html = response.content.decode()
    assert "locked" in html
    infusion = cycle.infusions.get(day=1)
    assert str(cycle.weight_kg) in row(html, "treatmentcycle", cycle.pk, "weight_kg")
    assert "derived" in row(html, "treatmentcycle", cycle.pk, "prescribed_daily_dose_g")
    assert str(cycle.prescribed_daily_dose_g) in row(html, "treatmentcycle", cycle.pk, "prescribed_daily_dose_g")
    assert str(infusion.lot) in row(html, "infusion", infusion.pk, "lot")
    assert str(infusion.dose_difference_pct) in row(html, "infusion", infusion.pk, "dose_difference_pct")
    assert str(infusion.rate_ml_per_kg_min) in row(html, "infusion", infusion.pk, "rate_ml_per_kg_min")
    assert str(cycle.assessment.ck_u_per_l) in row(html, "assessment", cycle.assessment.pk, "ck_u_per_l")
    # Nobody is offered the edit form of a locked cycle.
    assert f'href="{reverse("visits:cycle_update", args=[patient.pk, 1])}"' not in html


def test_a_clinician_of_another_site_gets_404(client_for, clinician_b, patient, cycle):
    assert client_for(clinician_b).get(cycle_view(patient)).status_code == 404
    assert client_for(clinician_b).get(casebook_url(patient)).status_code == 404


def test_a_user_without_a_role_gets_403_and_an_unknown_cycle_404(client_for, make_user, coordinator, patient,
                                                                   cycle, superuser):
    assert client_for(superuser).get(cycle_view(patient)).status_code in (403, 404)  # no role: no site
    assert client_for(coordinator).get(cycle_view(patient, 9)).status_code == 404


@pytest.mark.req("URS-CPY-006", "URS-SIG-001")
def test_the_cycle_view_shows_deviations_queries_signature_and_the_full_history(
        client_for, clinician, investigator, monitor, patient):
    cycle = full_cycle(patient, day2_dose=Decimal("40.0"))  # an under-dose on day 2
    from visits.services import deviations_refresh

    deviations_refresh(cycle=cycle, reason="")
    review_services.record_sign(record=cycle, user=investigator, password=PASSWORD, request=RequestFactory().post("/"))
    review_services.query_raise(record=cycle, field_name="weight_kg", field_label="weight", record_label="Cycle 1",
                                question="Weight on the source?", user=monitor, cycle_number=1)
    cycle.weight_kg = Decimal("71.0")
    record_save(instance=cycle, reason="Scale recalibrated", expected_version=cycle.version, user=clinician)

    html = client_for(monitor).get(cycle_view(patient)).content.decode()
    assert "Protocol deviations" in html and cycle.deviations.current().first().description in html
    assert "query open" in row(html, "treatmentcycle", cycle.pk, "weight_kg")
    assert "Signature invalidated" in html or "Signature not valid" in html
    history = html[html.index(f'id="crf-treatmentcycle-{cycle.pk}-history"'):]
    history = history[:history.index("</details>")]
    assert "Scale recalibrated" in history and "Weight (kg)" in history
    assert "71.0" in history and clinician.username in history


def test_end_of_treatment_and_adverse_event_views(client_for, monitor, clinician, patient, cycle):
    eot_url = reverse("visits:end_of_treatment_detail", args=[patient.pk])
    assert 'id="no-end-of-treatment"' in client_for(monitor).get(eot_url).content.decode()
    eot = AssessmentFactory(patient=patient, cycle=None, timepoint=AssessmentTimepoint.END_OF_TREATMENT,
                            assessment_date=cycle.start_date + timedelta(days=30))
    response = client_for(monitor).get(reverse("visits:end_of_treatment_detail", args=[patient.pk]))
    assert response.status_code == 200
    assert str(eot.mmt_total) in row(response.content.decode(), "assessment", eot.pk, "mmt_total")

    event = make_event(patient, follow_up_by=clinician, serious=True, serious_hospitalisation=True)
    event.refresh_from_db()
    url = reverse("safety:ae_detail", args=[patient.pk, event.pk])
    for user in (monitor, clinician):
        html = client_for(user).get(url).content.decode()
        assert "Headache" in row(html, "adverseevent", event.pk, "term")
        assert "derived" in row(html, "adverseevent", event.pk, "report_due_at")
        assert "Yes" in row(html, "adverseevent", event.pk, "serious_hospitalisation")
        follow_up = event.follow_ups.get()
        assert "Settling with paracetamol." in row(html, "adverseeventfollowup", follow_up.pk, "note")
    assert client_for(monitor).get(reverse("safety:ae_detail", args=[patient.pk, 999999])).status_code == 404


# --- the casebook -------------------------------------------------------------------

@pytest.mark.req("URS-CPY-006")
def test_the_casebook_shows_every_form_in_visit_order_with_history(client_for, coordinator, clinician, patient):
    DiagnosisFactory(patient=patient)
    MalignancyFactory(patient=patient, malignancy_type="Basal cell carcinoma")
    first, second = full_cycle(patient, 1), full_cycle(patient, 2)
    AssessmentFactory(patient=patient, cycle=None, timepoint=AssessmentTimepoint.END_OF_TREATMENT,
                      assessment_date=second.start_date + timedelta(days=30))
    event = make_event(patient, follow_up_by=clinician, onset=second.start_date + timedelta(days=1))
    infusion = second.infusions.get(day=2)
    infusion.lot = "LOT-FIXED"
    record_save(instance=infusion, reason="Lot misread", expected_version=infusion.version, user=clinician)

    for user in (coordinator, clinician):  # a coordinator of no site; the clinician of the site
        response = client_for(user).get(casebook_url(patient))
        assert response.status_code == 200
    html = response.content.decode()
    order = ['id="enrolment-title"', 'id="diagnosis-title"', "Malignancy: Basal cell carcinoma",
             'id="cycle-1-crf"', 'id="cycle-2-crf"', 'id="eot-title"', f'id="ae-{event.pk}-crf"',
             'id="casebook-history"']
    positions = [html.index(marker) for marker in order]
    assert positions == sorted(positions)
    assert "Began during: Cycle 2" in html
    assert "LOT-FIXED" in row(html, "infusion", infusion.pk, "lot")
    log = html[html.index('id="casebook-history"'):]
    assert "Lot misread" in log and "cycle 2 day 2" in log and "Headache" in log
    assert "not signed" in html[html.index('id="casebook-state"'):html.index("Casebook contents")]
    assert f'id="f-treatmentcycle-{first.pk}-weight_kg"' in html


def _casebook_queries(client, patient):
    with CaptureQueriesContext(connection) as queries:
        assert client.get(casebook_url(patient)).status_code == 200
    return len(queries)


def test_the_casebook_and_the_cycle_view_run_a_constant_number_of_queries(
        client_for, monitor, investigator, clinician, site_a, django_assert_num_queries):
    client = client_for(monitor)
    small, large = PatientFactory(site=site_a, subject_id="01-002"), PatientFactory(site=site_a, subject_id="01-003")
    for p, cycles, events in ((small, 1, 1), (large, 4, 3)):
        DiagnosisFactory(patient=p)
        for number in range(1, cycles + 1):
            cycle = full_cycle(p, number)
            review_services.record_sign(record=cycle, user=investigator, password=PASSWORD, request=RequestFactory().post("/"))
        for i in range(events):
            make_event(p, term=f"Event {i}", follow_up_by=clinician)
        MalignancyFactory(patient=p)
        review_services.record_sign(record=p, user=investigator, password=PASSWORD, request=RequestFactory().post("/"))
    client.get(casebook_url(small))  # (the session's first request)
    expected = _casebook_queries(client, small)
    with django_assert_num_queries(expected):
        client.get(casebook_url(large))
    with CaptureQueriesContext(connection) as queries:
        client.get(cycle_view(small, 1))
    with django_assert_num_queries(len(queries)):
        client.get(cycle_view(large, 4))


# --- links ---------------------------------------------------------------------------

def test_the_patient_page_timeline_and_ae_list_link_to_the_read_only_forms(client_for, monitor, clinician,
                                                                          patient, cycle):
    event = make_event(patient)
    assert casebook_url(patient) in client_for(monitor).get(reverse("patients:patient_detail",
                                                                     args=[patient.pk])).content.decode()
    timeline = client_for(monitor).get(reverse("visits:timeline", args=[patient.pk])).content.decode()
    assert cycle_view(patient) in timeline
    assert reverse("safety:ae_detail", args=[patient.pk, event.pk]) in timeline
    # The editor keeps the edit link beside the view link.
    timeline = client_for(clinician).get(reverse("visits:timeline", args=[patient.pk])).content.decode()
    assert cycle_view(patient) in timeline and reverse("visits:cycle_update", args=[patient.pk, 1]) in timeline
    listing = client_for(monitor).get(reverse("safety:ae_list")).content.decode()
    assert reverse("safety:ae_detail", args=[patient.pk, event.pk]) in listing


# --- the sign page shows what is signed ----------------------------------------------------

@pytest.mark.req("URS-SIG-004")
def test_the_cycle_sign_page_shows_the_values_before_the_password(client_for, investigator, patient, cycle):
    html = client_for(investigator).get(reverse("oversight:cycle_sign", args=[cycle.pk])).content.decode()
    infusion = cycle.infusions.get(day=2)
    assert "What you sign" in html
    assert str(cycle.weight_kg) in row(html, "treatmentcycle", cycle.pk, "weight_kg")
    assert str(infusion.dose_g) in row(html, "infusion", infusion.pk, "dose_g")
    assert str(cycle.assessment.ck_u_per_l) in row(html, "assessment", cycle.assessment.pk, "ck_u_per_l")
    assert html.index("What you sign") < html.index('name="password"')


def test_the_casebook_sign_page_shows_the_casebook(client_for, investigator, clinician, patient, cycle):
    DiagnosisFactory(patient=patient)
    event = make_event(patient, follow_up_by=clinician)
    html = client_for(investigator).get(reverse("oversight:casebook_sign", args=[patient.pk])).content.decode()
    assert str(cycle.weight_kg) in row(html, "treatmentcycle", cycle.pk, "weight_kg")
    assert "Headache" in row(html, "adverseevent", event.pk, "term")
    assert patient.subject_id in row(html, "patient", patient.pk, "subject_id")
    assert html.index("What you sign") < html.index('name="password"')
    # Signing still works from the page.
    response = client_for(investigator).post(reverse("oversight:casebook_sign", args=[patient.pk]),
                                             {"password": PASSWORD})
    assert response.status_code == 302


@pytest.mark.req("URS-OPS-003")
def test_a_monitor_verifies_entered_fields_not_derived_facts(client_for, monitor, patient, cycle):
    """SDV compares what was transcribed with the source: an entered field has "Verify",
    a fact the rules derived (and the service refuses to mark) has none; both can be queried."""
    html = client_for(monitor).get(cycle_view(patient)).content.decode()
    entered = row(html, "treatmentcycle", cycle.pk, "weight_kg")
    derived = row(html, "treatmentcycle", cycle.pk, "prescribed_daily_dose_g")
    assert "field-verify" in entered and "field-raise-query" in entered
    assert "field-verify" not in derived and "field-raise-query" in derived


def test_the_ae_view_and_the_casebook_sign_page_run_a_constant_number_of_queries(
        client_for, monitor, investigator, clinician, site_a, django_assert_num_queries):
    """Review of issue 14: the pages not in the casebook test above (an adverse event with
    one or four follow-ups; the casebook's sign page with one or four signed cycles)."""
    small, large = PatientFactory(site=site_a, subject_id="01-002"), PatientFactory(site=site_a, subject_id="01-003")
    events = {}
    for p, cycles, follow_ups in ((small, 1, 1), (large, 4, 4)):
        DiagnosisFactory(patient=p)
        for number in range(1, cycles + 1):
            cycle = full_cycle(p, number)
            review_services.record_sign(record=cycle, user=investigator, password=PASSWORD,
                                        request=RequestFactory().post("/"))
        event = make_event(p, follow_up_by=clinician)
        for i in range(follow_ups - 1):
            safety_services.adverse_event_follow_up(
                adverse_event=event, user=clinician, follow_up_date=event.onset_date + timedelta(days=3 + i),
                note=f"Day {i}.", outcome="recovering")
        events[p.pk] = event
    ae_url = lambda p: reverse("safety:ae_detail", args=[p.pk, events[p.pk].pk])  # noqa: E731
    sign_url = lambda p: reverse("oversight:casebook_sign", args=[p.pk])  # noqa: E731
    for user, url in ((monitor, ae_url), (clinician, ae_url), (investigator, sign_url)):
        client = client_for(user)
        client.get(url(small))  # (the session's first request)
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url(small)).status_code == 200
        with django_assert_num_queries(len(queries)):
            assert client.get(url(large)).status_code == 200
