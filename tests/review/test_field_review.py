"""SDV of any form and of single fields, queries at the field, the edit forms' flags,
one-step answers and warnings, and the casebook signing rule (issue 14, items 2 and 3)."""

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.template import Context, Template
from django.test import RequestFactory
from django.urls import reverse

from core.selectors import review_state
from core.services import record_save
from patients.models import Patient
from review import services as review_services
from review.models import DataQuery, QueryStatus, ReviewInvalidation, SourceVerification
from review.selectors import check_reviews
from tests.patients.factories import MalignancyFactory, PatientFactory
from tests.visits.factories import full_cycle
from visits.models import Assessment, TreatmentCycle

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery"


@pytest.fixture
def patient(site_a):
    return PatientFactory(site=site_a, subject_id="01-001")


@pytest.fixture
def cycle(patient):
    return full_cycle(patient)


@pytest.fixture
def rf_request():
    def build(user):
        request = RequestFactory().post("/")
        request.user = user
        return request
    return build


def change(record, user, reason="Source corrected", **values):
    record = type(record).objects.get(pk=record.pk)
    for name, value in values.items():
        setattr(record, name, value)
    return record_save(instance=record, reason=reason, expected_version=record.version, user=user)


def assessment_of(cycle):
    return Assessment.objects.get(cycle=cycle)


# --- Services ------------------------------------------------------------------

@pytest.mark.req("URS-OPS-003")
def test_a_field_mark_is_cleared_only_by_its_field_with_the_reason(monitor, clinician, cycle):
    assessment = assessment_of(cycle)
    ck = review_services.record_verify(record=assessment, user=monitor, field_name="ck_u_per_l")
    haq = review_services.record_verify(record=assessment, user=monitor, field_name="haq")
    assert ck.is_valid and haq.is_valid and ck.field_name == "ck_u_per_l"

    change(assessment, clinician, reason="Lab report re-read", ck_u_per_l=Decimal("1234"))
    ck, haq = SourceVerification.objects.get(pk=ck.pk), SourceVerification.objects.get(pk=haq.pk)
    assert not ck.is_valid and haq.is_valid
    assert "CK" in ck.invalidated_reason and "Lab report re-read" in ck.invalidated_reason
    assert ReviewInvalidation.objects.get().verification_id == ck.pk  # a new row, the mark untouched
    assert check_reviews().broken == []  # the signature check agrees: nothing altered outside


@pytest.mark.req("URS-OPS-003")
def test_every_form_can_be_verified_and_a_change_clears_its_sdv(monitor, clinician, patient, cycle):
    malignancy = MalignancyFactory(patient=patient)
    forms = [patient, malignancy, cycle]
    rows = [review_services.record_verify(record=record, user=monitor) for record in forms]
    assert all(row.is_valid for row in rows)
    with pytest.raises(ValidationError) as exc:
        review_services.record_verify(record=malignancy, user=monitor)
    assert exc.value.code == "already_verified"

    # A malignancy change clears the malignancy's SDV, not the enrolment form's nor the cycle's.
    change(malignancy, clinician, status="active")
    assert [SourceVerification.objects.get(pk=r.pk).is_valid for r in rows] == [True, False, True]
    # An assessment change clears the cycle's form SDV (the cycle form covers it).
    change(assessment_of(cycle), clinician, haq=Decimal("1.5"))
    assert not SourceVerification.objects.get(pk=rows[2].pk).is_valid
    assert check_reviews().broken == []


@pytest.mark.req("URS-SIG-003")
def test_a_field_mark_altered_outside_the_application_is_caught(monitor, cycle):
    mark = review_services.record_verify(record=cycle, user=monitor, field_name="weight_kg")
    TreatmentCycle.objects.filter(pk=cycle.pk).update(weight_kg=Decimal("99"))  # behind the app's back
    broken = check_reviews().broken
    assert [row.pk for row in broken] == [mark.pk]
    assert "Weight" in broken[0].record_label


def test_verify_is_scoped_and_refuses_bookkeeping_fields(monitor, clinician, cycle):
    with pytest.raises(PermissionDenied):
        review_services.record_verify(record=cycle, user=clinician, field_name="weight_kg")
    for name in ("version", "patient", "prescribed_daily_dose_g", "nonsense"):
        with pytest.raises(ValidationError):
            review_services.record_verify(record=cycle, user=monitor, field_name=name)


@pytest.mark.req("URS-OPS-001")
def test_a_casebook_is_not_signed_while_a_cycle_signature_is_invalid(rf_request, investigator, clinician,
                                                                     patient, cycle):
    request = rf_request(investigator)
    review_services.record_sign(record=cycle, user=investigator, password=PASSWORD, request=request)
    change(cycle, clinician, weight_kg=Decimal("71"))
    with pytest.raises(ValidationError) as exc:
        review_services.record_sign(record=patient, user=investigator, password=PASSWORD, request=request)
    assert exc.value.code == "cycle_signature_invalid" and "cycle 1" in exc.value.messages[0]
    review_services.record_sign(record=TreatmentCycle.objects.get(pk=cycle.pk), user=investigator,
                                password=PASSWORD, request=request)
    assert review_services.record_sign(record=patient, user=investigator, password=PASSWORD, request=request)


def test_the_sign_page_says_why_the_casebook_cannot_be_signed(client_for, investigator, clinician, patient, cycle):
    client = client_for(investigator)
    client.post(reverse("oversight:cycle_sign", args=[cycle.pk]), {"password": PASSWORD})
    change(cycle, clinician, weight_kg=Decimal("71"))
    # Said before the password is typed ...
    page = client.get(reverse("oversight:casebook_sign", args=[patient.pk])).content.decode()
    assert 'id="sign-blocked"' in page and "cannot be signed while a cycle signature is not valid" in page
    # ... and refused with a field error if the investigator signs anyway.
    response = client.post(reverse("oversight:casebook_sign", args=[patient.pk]), {"password": PASSWORD})
    assert response.status_code == 200
    assert "cannot be signed while a cycle signature is not valid" in response.content.decode()


# --- Views -----------------------------------------------------------------------

def verify(client, patient, target, next_url="/patients/"):
    return client.post(reverse("oversight:record_verify", args=[patient.pk]), {"target": target, "next": next_url})


def test_a_monitor_verifies_a_field_and_comes_back(client_for, monitor, clinician, patient, cycle):
    target = f"treatmentcycle:{cycle.pk}:weight_kg"
    assert verify(client_for(clinician), patient, target).status_code == 403
    response = verify(client_for(monitor), patient, target, next_url="https://evil.example/")
    assert response.status_code == 302 and response.url == reverse("visits:timeline", args=[patient.pk])
    assert SourceVerification.objects.get().field_name == "weight_kg"
    response = verify(client_for(monitor), patient, f"assessment:{assessment_of(cycle).pk}:")
    assert response.url == "/patients/"
    assert client_for(monitor).get(reverse("oversight:record_verify", args=[patient.pk])).status_code == 405


def test_a_monitor_of_another_patient_cannot_reach_outside_the_patient(client_for, monitor, patient, cycle, site_b):
    other = PatientFactory(site=site_b, subject_id="02-001")
    verify(client_for(monitor), other, f"treatmentcycle:{cycle.pk}:weight_kg")
    assert not SourceVerification.objects.exists()  # the cycle is not the other patient's


def test_the_query_link_preselects_the_field_and_comes_back(client_for, monitor, patient, cycle):
    target = f"treatmentcycle:{cycle.pk}:weight_kg"
    url = reverse("oversight:query_create") + f"?patient={patient.pk}&target={target}&next=/back/"
    client = client_for(monitor)
    assert client.get(url).context["form"].initial["target"] == target
    response = client.post(url, {"target": target, "question": "Source says 70.5?"})
    assert response.status_code == 302 and response.url == "/back/"
    assert DataQuery.objects.get().field_name == "weight_kg"


@pytest.mark.req("URS-OPS-002")
def test_a_clinician_answers_in_one_step_from_the_edit_form(client_for, monitor, clinician, patient):
    query = review_services.query_raise(record=patient, field_name="enrolment_date", field_label="Enrolment date",
                                        record_label="Patient", question="Date on the consent?", user=monitor)
    edit_url = reverse("patients:patient_update", args=[patient.pk])
    page = client_for(clinician).get(edit_url).content.decode()
    assert f'id="query-thread-{query.pk}"' in page and "Date on the consent?" in page
    assert f'aria-describedby="id_enrolment_date_helptext query-thread-{query.pk}"' in page
    assert "Data query open: see its thread beside the form." in page  # the flag at the field
    assert "has-query" in page and f'form="query-thread-{query.pk}-answer"' in page
    answer = reverse("oversight:query_answer", args=[query.pk])
    assert client_for(monitor).post(answer, {"text": "x", "next": edit_url}).status_code == 403
    response = client_for(clinician).post(answer, {"text": "Checked: 2025-03-12.", "next": edit_url})
    assert response.status_code == 302 and response.url == edit_url
    query.refresh_from_db()
    assert query.status == QueryStatus.ANSWERED
    # The page's script sends it in the background (JSON), so the main form keeps its input.
    review_services.query_reopen(query=query, user=monitor, text="Still not matching.")
    response = client_for(clinician).post(answer, {"text": "Re-checked."}, HTTP_ACCEPT="application/json")
    assert response.json() == {"ok": True, "error": "", "status": "Answered"}
    response = client_for(clinician).post(answer, {"text": ""}, HTTP_ACCEPT="application/json")
    assert response.status_code == 400 and not response.json()["ok"]


@pytest.mark.req("URS-OPS-001")
def test_the_edit_forms_warn_what_saving_invalidates(client_for, monitor, investigator, clinician, patient, cycle,
                                                     rf_request):
    review_services.record_sign(record=cycle, user=investigator, password=PASSWORD,
                                request=rf_request(investigator))
    review_services.record_verify(record=cycle, user=monitor)
    page = client_for(clinician).get(reverse("visits:cycle_update", args=[patient.pk, cycle.number])).content.decode()
    assert "Saving a change will invalidate" in page
    assert f"the investigator&#x27;s signature of cycle {cycle.number} ({investigator.get_full_name()}" in page
    assert f"the source data verification of cycle {cycle.number}" in page
    # Fields verified one by one on the cycle page's other parts (assessment, infusions) are named too.
    review_services.record_verify(record=cycle.assessment, user=monitor, field_name="ck_u_per_l")
    review_services.record_verify(record=cycle.infusions.get(day=2), user=monitor, field_name="dose_g")
    page = client_for(clinician).get(reverse("visits:cycle_update", args=[patient.pk, cycle.number])).content.decode()
    warning = page.split("Saving a change will invalidate")[1].split("</div>")[0]
    assert "CK (U/L)" in warning and "day 2 infusion: " in warning
    # The enrolment form: its own SDV, not the cycle's.
    review_services.record_verify(record=patient, user=monitor)
    page = client_for(clinician).get(reverse("patients:patient_update", args=[patient.pk])).content.decode()
    assert "the source data verification of the enrolment form" in page
    assert f"cycle {cycle.number}" not in page.split("Saving a change will invalidate")[1].split("</div>")[0]


def test_the_cycle_page_shows_the_threads_and_answer_boxes(client_for, monitor, clinician, patient, cycle):
    infusion = cycle.infusions.get(day=1)
    query = review_services.query_raise(record=infusion, field_name="dose_g", field_label="Dose (g)",
                                        record_label="Day 1", question="Dose on the chart?", user=monitor,
                                        cycle_number=cycle.number)
    page = client_for(clinician).get(reverse("visits:cycle_update", args=[patient.pk, cycle.number])).content.decode()
    assert "Dose on the chart?" in page and f'data-field-id="id_day1-dose_g"' in page
    assert page.index(f'id="query-thread-{query.pk}-answer"') < page.index('id="cycle-form"')  # not nested


# --- Tags --------------------------------------------------------------------------

def render(template, request, **context):
    return Template("{% load review_fields %}" + template).render(Context({"request": request, **context}))


def test_field_review_shows_the_mark_the_queries_and_the_monitor_controls(monitor, clinician, patient, cycle,
                                                                         django_assert_num_queries):
    review_services.record_verify(record=cycle, user=monitor, field_name="weight_kg")
    review_services.query_raise(record=cycle, field_name="height_cm", field_label="Height", record_label="Cycle 1",
                                question="Height?", user=monitor, cycle_number=1)
    request = RequestFactory().get("/read/")
    request.user = monitor
    state = review_state(patient)
    record = TreatmentCycle.objects.for_signature().get(pk=cycle.pk)
    template = ('{% field_review review record "weight_kg" %}|{% field_review review record "height_cm" %}'
                "|{% record_review review record %}")
    render(template, request, review=state, record=record)  # warm the user's permission cache
    with django_assert_num_queries(0):
        html = render(template, request, review=state, record=record)
    weight, height, form = html.split("|")
    assert "sdv-mark" in weight and "field-verify" not in weight and "field-raise-query" in weight
    assert "query open" in height and "field-verify" in height
    assert f"target=treatmentcycle%3A{cycle.pk}%3Aheight_cm" in height and "next=%2Fread%2F" in height
    assert "Verify form" in form

    change(cycle, clinician, reason="Scale recalibrated", weight_kg=Decimal("71"))
    request.user = clinician
    html = render('{% field_review review record "weight_kg" %}', request, review=review_state(patient),
                  record=TreatmentCycle.objects.get(pk=cycle.pk))
    assert "SDV cleared" in html and "Scale recalibrated" in html
    assert "field-verify" not in html and "field-raise-query" not in html  # a clinician has no controls


def test_the_query_page_shows_the_fields_value_now_and_links_to_it_in_the_casebook(client_for, monitor, clinician,
                                                                                   patient, cycle):
    query = review_services.query_raise(record=cycle, field_name="weight_kg", field_label="Weight (kg)",
                                        record_label="Cycle 1 visit", question="Please confirm the weight.",
                                        user=monitor, cycle_number=1)
    html = client_for(clinician).get(f"/oversight/queries/{query.pk}/").content.decode()
    assert f'id="query-current-value">{cycle.weight_kg}<' in html
    assert f"/patients/{patient.pk}/casebook/#f-treatmentcycle-{cycle.pk}-weight_kg" in html
def test_a_monitor_verifies_and_queries_an_ae_follow_up_from_its_read_only_form(
        client_for, monitor, clinician, patient, site_b):
    """Review of issue 14: the follow-ups on the adverse event's read-only view carry
    "Verify" and "Query" at each field; both used to fail ("Choose a form or a field of
    this patient's records.": a follow-up was not a target)."""
    from datetime import timedelta

    from safety import services as safety_services
    from safety.models import AdverseEvent

    event = safety_services.adverse_event_save(event=AdverseEvent(
        patient=patient, term="Headache", onset_date=patient.enrolment_date + timedelta(days=3), grade=2,
        relatedness="possible", action_taken="none", outcome="recovering"))
    follow_up = safety_services.adverse_event_follow_up(
        adverse_event=event, user=clinician, follow_up_date=event.onset_date + timedelta(days=2),
        note="Settling.", outcome="recovering")
    page = reverse("safety:ae_detail", args=[patient.pk, event.pk])
    client = client_for(monitor)
    target = f"adverseeventfollowup:{follow_up.pk}:note"
    assert f'value="{target}"' in client.get(page).content.decode()  # the page's own control
    verify(client, patient, target, next_url=page)
    assert SourceVerification.objects.get().field_name == "note"
    verify(client, patient, f"adverseeventfollowup:{follow_up.pk}:adverse_event", next_url=page)
    assert SourceVerification.objects.count() == 1  # the parent link is no field of the form
    other = PatientFactory(site=site_b, subject_id="02-001")
    verify(client, other, f"adverseeventfollowup:{follow_up.pk}:outcome")
    assert SourceVerification.objects.count() == 1  # not the other patient's follow-up
    url = reverse("oversight:query_create") + f"?patient={patient.pk}&target={target}&next={page}"
    assert client.get(url).context["form"].initial["target"] == target
    response = client.post(url, {"target": target, "question": "The source says 'worse'?"})
    assert response.status_code == 302 and response.url == page
    query = DataQuery.objects.get()
    assert query.field_name == "note" and query.object_id == follow_up.pk
    assert "Follow-up" in query.record_label and "Headache" in query.record_label
    html = client.get(page).content.decode()  # the field shows its mark and its query
    note = html[html.index(f'id="f-adverseeventfollowup-{follow_up.pk}-note"'):]
    note = note[:note.index("</tr>")]
    assert "sdv-mark" in note and reverse("oversight:query_detail", args=[query.pk]) in note


def test_the_casebook_sign_page_says_before_the_password_that_it_cannot_be_signed(
        client_for, investigator, clinician, patient, cycle):
    """Review of issue 14: the refusal used to appear only after the investigator had read
    the casebook and typed the password."""
    client = client_for(investigator)
    url = reverse("oversight:casebook_sign", args=[patient.pk])
    assert 'id="sign-blocked"' not in client.get(url).content.decode()
    client.post(reverse("oversight:cycle_sign", args=[cycle.pk]), {"password": PASSWORD})
    change(cycle, clinician, weight_kg=Decimal("71"))
    html = client.get(url).content.decode()
    assert 'id="sign-blocked"' in html and "sign again cycle 1" in html


def test_a_voided_record_offers_no_verify_and_no_query(client_for, monitor, clinician, patient):
    """Review of issue 14: a voided malignancy showed "Verify" and "Query" controls whose
    query could not be raised (the raise form offers current records only)."""
    malignancy = MalignancyFactory(patient=patient)
    from core.services import record_void

    record_void(instance=malignancy, reason="Entered on the wrong patient", expected_version=malignancy.version,
                user=clinician)
    html = client_for(monitor).get(reverse("casebook:casebook_detail", args=[patient.pk])).content.decode()
    start = html.index(f'id="crf-malignancyhistory-{malignancy.pk}"')
    section = html[start:html.index("</section>", start)]
    assert "field-verify" not in section and "field-raise-query" not in section and "record-verify" not in section
