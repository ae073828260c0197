"""Issue 17, point 3: a save that fails an edit check opens a data query on the field, the
correction closes it with a note; never a duplicate; a query closed by a person stays closed
while the data are the same; the after-save run reads one patient only."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from core.services import record_save
from editchecks import services
from editchecks.checks import BY_ID
from review import services as review_services
from review.models import DataQuery, QueryMessageKind, QueryStatus
from safety.models import AdverseEvent
from tests.patients.factories import PatientFactory
from tests.visits.factories import AssessmentFactory, CycleFactory
from visits.models import Assessment

pytestmark = pytest.mark.django_db


def _save_ck(assessment, ck, user, reason):
    assessment = Assessment.objects.get(pk=assessment.pk)
    assessment.ck_u_per_l = Decimal(ck)
    return record_save(instance=assessment, reason=reason, user=user)


@pytest.mark.req("URS-CHK-005")
def test_a_save_that_fails_a_check_opens_a_query_and_the_correction_closes_it(
        cycle, clinician, django_capture_on_commit_callbacks):
    """The issue's "Done when": an edit check that opens a query on save and closes it after the correction."""
    assessment = cycle.assessment
    with django_capture_on_commit_callbacks(execute=True):
        _save_ck(assessment, "2500", clinician, "Lab result corrected")
    query = DataQuery.objects.get()
    assert (query.check_id, query.field_name, query.object_id, query.status) == (
        "EC001", "ck_u_per_l", assessment.pk, QueryStatus.OPEN)
    assert (query.record_label, query.field_label, query.cycle_number) == ("Cycle 2 assessment", "CK (U/L)", 2)
    assert query.raised_by.username == services.SYSTEM_USERNAME and not query.raised_by.is_active
    assert query.check_values["ck"] == "2500.0" and query.check_values["ratio"] == "12.5"
    question = query.messages.get()
    assert question.kind == QueryMessageKind.QUESTION and question.text.startswith("EC001: CK above 10 times")
    assert "CK 2500.0 U/L on 2025-04-14 is 12.5 times the upper limit of normal (200.0 U/L)" in question.text
    assert query.history.get().history_user == query.raised_by

    with django_capture_on_commit_callbacks(execute=True):
        _save_ck(assessment, "250", clinician, "Typing error: 250, not 2500")
    query.refresh_from_db()
    assert query.status == QueryStatus.CLOSED
    close = query.messages.get(kind=QueryMessageKind.CLOSE)
    assert close.text == "Closed automatically: the data no longer fail check EC001."
    assert close.author == query.raised_by
    last = query.history.order_by("-history_id").first()
    assert (last.status, last.history_change_reason, last.history_user) == ("closed", "Closed automatically",
                                                                            query.raised_by)


def test_an_adverse_event_in_the_window_closes_the_ck_query(cycle, clinician, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        _save_ck(cycle.assessment, "2500", clinician, "Lab result")
    assert DataQuery.objects.get().status == QueryStatus.OPEN
    event = AdverseEvent(patient=cycle.patient, term="Rhabdomyolysis", onset_date=cycle.start_date - timedelta(days=3),
                         grade=3, relatedness="unlikely", action_taken="none", outcome="recovering")
    from safety.services import adverse_event_save

    with django_capture_on_commit_callbacks(execute=True):
        adverse_event_save(event=event, user=clinician)
    assert DataQuery.objects.get().status == QueryStatus.CLOSED


@pytest.mark.req("URS-CHK-005")
def test_never_a_duplicate_while_a_query_is_open_or_answered(cycle, clinician, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        _save_ck(cycle.assessment, "2500", clinician, "Lab result")
        _save_ck(cycle.assessment, "2600", clinician, "Lab result again")  # same transaction? no: two saves
    query = DataQuery.objects.get()
    review_services.query_answer(query=query, user=clinician, text="The value is right: a fall at home, no AE.")
    with django_capture_on_commit_callbacks(execute=True):
        _save_ck(cycle.assessment, "2700", clinician, "Repeat test")
    services.checks_run(patients=services.checkable_patients(), checks=[BY_ID["EC001"]])
    assert DataQuery.objects.count() == 1
    assert DataQuery.objects.get().status == QueryStatus.ANSWERED


def test_the_database_refuses_a_second_open_query_of_a_check(cycle, clinician):
    services.checks_run(patients=services.checkable_patients(), checks=[BY_ID["EC006"]])  # nothing fails
    services.checks_run(patients=services.checkable_patients(), checks=[BY_ID["EC001"]])
    assert not DataQuery.objects.exists()
    Assessment.objects.filter(pk=cycle.assessment.pk).update(ck_u_per_l=Decimal("3000"))
    services.checks_run(patients=services.checkable_patients(), checks=[BY_ID["EC001"]])
    query = DataQuery.objects.get()
    copy = DataQuery(content_type=query.content_type, object_id=query.object_id, patient=query.patient,
                     field_name=query.field_name, record_label="x", raised_by=query.raised_by, check_id="EC001")
    with pytest.raises(IntegrityError), transaction.atomic():
        copy.save()


def test_a_query_closed_by_a_monitor_stays_closed_until_the_data_change(cycle, clinician, monitor):
    Assessment.objects.filter(pk=cycle.assessment.pk).update(ck_u_per_l=Decimal("3000"))
    run = lambda: services.checks_run(patients=services.checkable_patients(), checks=[BY_ID["EC001"]])  # noqa: E731
    run()
    query = DataQuery.objects.get()
    review_services.query_close(query=query, user=monitor, text="Confirmed with the site: exercise, not an AE.")
    assert run()["EC001"] == {"failing": 1, "raised": 0, "closed": 0}  # no loop: nothing raised again
    assert DataQuery.objects.count() == 1
    Assessment.objects.filter(pk=cycle.assessment.pk).update(ck_u_per_l=Decimal("4000"))
    assert run()["EC001"]["raised"] == 1  # new values still failing: a new question
    assert DataQuery.objects.filter(status=QueryStatus.OPEN).count() == 1


def test_an_auto_raise_notifies_once_like_a_manual_raise(cycle, clinician, monkeypatch):
    events = []
    monkeypatch.setattr(review_services, "query_hooks", [lambda event, query, message, user: events.append(event)])
    Assessment.objects.filter(pk=cycle.assessment.pk).update(ck_u_per_l=Decimal("3000"))
    for _ in range(3):
        services.checks_run(patients=services.checkable_patients(), checks=[BY_ID["EC001"]])
    assert events == ["raised"]


def test_the_after_save_run_is_once_per_patient_and_transaction_after_commit(
        cycle, clinician, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks, transaction.atomic():
        _save_ck(cycle.assessment, "2500", clinician, "One")
        _save_ck(cycle.assessment, "2600", clinician, "Two")
        assert not DataQuery.objects.exists()  # nothing runs inside the transaction
    runs = [c for c in callbacks if isinstance(c, services.PatientRun)]
    assert len(runs) == 1 and runs[0].patient_id == cycle.patient_id
    assert [c.id for c in runs[0].checks()] == ["EC001", "EC002", "EC004", "EC005"]


def test_the_after_save_run_reads_one_patient_in_a_constant_number_of_queries(cycle, site_a):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    services.system_user()

    def measure():
        run = services.PatientRun(cycle.patient_id)
        run.labels.update({"visits.assessment", "safety.adverseevent", "patients.patient", "visits.treatmentcycle"})
        with CaptureQueriesContext(connection) as captured:
            run()
        return len(captured)

    counts = []
    for size in (1, 6):
        while PatientFactory._meta.model.objects.count() < size + 1:  # other patients, with a failing CK
            other = PatientFactory(site=site_a)
            AssessmentFactory(cycle=CycleFactory(patient=other), patient=other, ck_u_per_l=Decimal("5000"))
        counts.append(measure())
    assert counts[0] == counts[1] <= 6 * 6  # six checks, a fixed handful of queries each
    assert not DataQuery.objects.exclude(patient=cycle.patient).exists()


def test_ae_onset_before_consent_after_the_consent_date_is_corrected(
        cycle, clinician, django_capture_on_commit_callbacks):
    """The AE form refuses an onset before enrolment; a later correction of the consent date
    can still leave an event before consent: the check queries it on the event's onset."""
    from patients.models import Patient
    from safety.services import adverse_event_save

    event = AdverseEvent(patient=cycle.patient, term="Headache", onset_date=date(2025, 4, 15), grade=1,
                         relatedness="possible", action_taken="none", outcome="recovered",
                         end_date=date(2025, 4, 16))
    with django_capture_on_commit_callbacks(execute=True):
        adverse_event_save(event=event, user=clinician)
    assert not DataQuery.objects.exists()
    patient = Patient.objects.get(pk=cycle.patient_id)
    patient.consent_date, patient.enrolment_date = date(2025, 3, 19), date(2025, 3, 19)
    Patient.objects.filter(pk=patient.pk).update(consent_date=date(2025, 4, 16), enrolment_date=date(2025, 4, 16))
    services.checks_run(patients=services.checkable_patients(), checks=[BY_ID["EC003"]])
    query = DataQuery.objects.get()
    assert (query.check_id, query.field_name, query.object_id) == ("EC003", "onset_date", event.pk)
    assert query.record_label == "Adverse event Headache (2025-04-15)"


def test_mmt_fall_weight_change_and_missing_end_of_treatment(cycle, clinician):
    from patients.models import Patient

    second = CycleFactory(patient=cycle.patient, number=3, weight_kg=Decimal("80.0"))  # +14.3 %
    AssessmentFactory(cycle=second, patient=cycle.patient, mmt_neck_flexors=2, mmt_deltoid=2)  # 56 -> 46: -17.9 %
    results = services.checks_run(patients=services.checkable_patients(), checks=[BY_ID["EC004"], BY_ID["EC006"]])
    assert results["EC004"]["failing"] == 0 and results["EC006"]["failing"] == 1
    weight = DataQuery.objects.get(check_id="EC006")
    assert (weight.object_id, weight.field_name, weight.cycle_number) == (second.pk, "weight_kg", 3)
    Assessment.objects.filter(cycle=second).update(mmt_total=40)  # -28.6 %
    assert services.checks_run(patients=services.checkable_patients(), checks=[BY_ID["EC004"]])["EC004"]["raised"] == 1
    assert DataQuery.objects.get(check_id="EC004").field_name == ""

    Patient.objects.filter(pk=cycle.patient_id).update(status="completed", last_infusion_date=date(2025, 4, 15))
    ec005 = [BY_ID["EC005"]]
    assert services.checks_run(patients=services.checkable_patients(), checks=ec005,
                               today=date(2025, 6, 10))["EC005"]["failing"] == 0
    assert services.checks_run(patients=services.checkable_patients(), checks=ec005,
                               today=date(2025, 6, 11))["EC005"]["raised"] == 1
    query = DataQuery.objects.get(check_id="EC005")
    assert (query.object_id, query.record_label) == (cycle.patient_id, "Patient 01-001")


def test_assessment_after_the_first_infusion(cycle):
    Assessment.objects.filter(pk=cycle.assessment.pk).update(assessment_date=cycle.start_date + timedelta(days=1))
    services.checks_run(patients=services.checkable_patients(), checks=[BY_ID["EC002"]])
    query = DataQuery.objects.get()
    assert (query.check_id, query.field_name) == ("EC002", "assessment_date")
    assert "after the cycle's first infusion on 2025-04-14" in query.messages.get().text


def test_a_locked_casebook_is_not_checked(cycle):
    from django.utils import timezone
    from patients.models import Patient

    Assessment.objects.filter(pk=cycle.assessment.pk).update(ck_u_per_l=Decimal("3000"))
    Patient.objects.filter(pk=cycle.patient_id).update(locked_at=timezone.now())
    assert services.checks_run(patients=services.checkable_patients())["EC001"]["failing"] == 0
    assert not DataQuery.objects.exists()
