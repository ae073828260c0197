"""The review tables are append-only like the audit tables (issue 12, finding 4):
data-query messages, adverse-event reviews and follow-ups, protocol deviations.

The database refuses UPDATE (and DELETE on PostgreSQL) on them, and every
workflow that changes their state writes a new row instead: no UPDATE or
DELETE statement on these tables is ever sent.
"""

import re
from datetime import date
from decimal import Decimal

import pytest
from django.apps import apps
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext

from oversight import append_only
from review import services as review_services
from review.models import DataQueryMessage
from safety import services as safety_services
from safety.models import AdverseEvent, AdverseEventFollowUp, AdverseEventReview
from tests.patients.factories import PatientFactory
from tests.visits.factories import full_cycle
from visits.models import Infusion, ProtocolDeviation, TreatmentCycle
from visits.services import CycleParts, cycle_save

pytestmark = pytest.mark.django_db

postgresql_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL trigger")

REVIEW_TABLES = ["core_dataquerymessage", "safety_adverseeventreview", "safety_adverseeventfollowup",
                 "visits_protocoldeviation"]
WRITE = re.compile(r'^\s*(UPDATE|DELETE FROM)\s+"?(\w+)"?', re.IGNORECASE)


def _refused(sql):
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql)
    except DatabaseError as exc:
        assert "append-only" in str(exc)
        return True
    return False


def _rewrites(queries):
    """The (statement, table) of every UPDATE or DELETE of a review table among ``queries``."""
    found = []
    for query in queries:
        match = WRITE.match(query["sql"])
        if match and match.group(2) in REVIEW_TABLES:
            found.append((match.group(1).upper(), match.group(2)))
    return found


@pytest.fixture
def patient(site_a):
    return PatientFactory(site=site_a, subject_id="01-001", consent_date=date(2025, 2, 20),
                          enrolment_date=date(2025, 3, 1))


@pytest.fixture
def rows(patient, clinician, monitor):
    """One row in each review table, written by the services."""
    cycle = full_cycle(patient)
    _correct_day2(cycle, "60", "Dose from the pump log", clinician)
    event = AdverseEvent.objects.create(
        patient=patient, term="Aseptic meningitis", onset_date=date(2025, 3, 18), grade=3, serious=True,
        serious_hospitalisation=True, relatedness="possible", action_taken="interrupted", outcome="recovering")
    safety_services.adverse_event_acknowledge(adverse_event=event, user=monitor)
    safety_services.adverse_event_review(adverse_event=event, user=monitor, comment="Typical",
                                         reviewer_relatedness="probable")
    safety_services.adverse_event_follow_up(adverse_event=event, user=clinician, follow_up_date=date(2025, 3, 25),
                                            note="Settling", outcome="recovering")
    review_services.query_raise(record=cycle, field_name="weight_kg", field_label="Weight",
                                   record_label="Cycle 1", question="Weight?", user=monitor, cycle_number=1)
    assert ProtocolDeviation.objects.exists() and AdverseEventReview.objects.exists()
    assert AdverseEventFollowUp.objects.exists() and DataQueryMessage.objects.exists()
    return {"cycle": cycle, "event": event}


@pytest.mark.req("URS-PRO-004")
def test_the_review_tables_carry_the_trigger():
    assert set(REVIEW_TABLES) <= set(append_only.audit_tables(apps))
    assert set(REVIEW_TABLES) <= append_only.protected_tables(connection)


@pytest.mark.parametrize("table", REVIEW_TABLES)
@pytest.mark.req("URS-PRO-004")
def test_update_is_refused(rows, table):
    assert _refused(f"UPDATE {table} SET id = id")


def test_orm_updates_are_refused(rows):
    for model in (ProtocolDeviation, AdverseEventReview, AdverseEventFollowUp, DataQueryMessage):
        row = model.objects.first()
        with pytest.raises(DatabaseError), transaction.atomic():
            model.objects.filter(pk=row.pk).update(id=row.pk)
        with pytest.raises(DatabaseError), transaction.atomic():
            row.save()


@postgresql_only
@pytest.mark.parametrize("table", REVIEW_TABLES)
@pytest.mark.req("URS-PRO-004")
def test_delete_is_refused_on_postgresql(rows, table):
    assert _refused(f"DELETE FROM {table}")


def _correct_day2(cycle, dose, reason, user):
    day2 = Infusion.objects.get(cycle=cycle, day=2)
    day2.dose_g, day2.volume_ml = Decimal(dose), Decimal(dose) * 10
    cycle = TreatmentCycle.objects.select_related("patient").get(pk=cycle.pk)
    with CaptureQueriesContext(connection) as queries:
        cycle_save(parts=CycleParts(cycle=cycle, infusions={2: day2}, expected_versions={"day2": day2.version}),
                   reason=reason, user=user)
    return _rewrites(queries.captured_queries)


@pytest.mark.req("URS-PRO-004")
def test_a_deviation_is_resolved_redescribed_and_reopened_by_new_rows(patient, clinician):
    cycle = full_cycle(patient)
    assert _correct_day2(cycle, "60", "Dose from the pump log", clinician) == []
    first = ProtocolDeviation.objects.get()
    assert (first.kind, first.day, first.is_open, first.predecessor) == ("underdose", 2, True, None)
    before = ProtocolDeviation.objects.filter(pk=first.pk).values().get()

    # Still an under-dose, another amount: a new open row supersedes the first.
    assert _correct_day2(cycle, "62", "Pump log re-read", clinician) == []
    second = ProtocolDeviation.objects.current().get()
    assert second.predecessor == first and second.is_open and second.description != first.description
    assert (second.detected_at, second.version) == (first.detected_at, first.version + 1)
    assert second.history.get().history_change_reason.startswith("Recomputed after a correction: Pump log re-read")

    # The cause is removed: a new resolved row.
    assert _correct_day2(cycle, "70", "Pump log shows 70 g", clinician) == []
    resolved = ProtocolDeviation.objects.current().get()
    assert resolved.predecessor == second and resolved.resolved_at is not None
    assert resolved.resolution == "Pump log shows 70 g" and not ProtocolDeviation.objects.open().exists()

    # The cause comes back: a new deviation after the resolved one, which stays in the log.
    assert _correct_day2(cycle, "60", "Pump log misread", clinician) == []
    assert [(d.pk == resolved.pk, d.is_open) for d in ProtocolDeviation.objects.current().order_by("pk")] \
        == [(True, False), (False, True)]
    assert ProtocolDeviation.objects.open().get().predecessor == resolved
    assert ProtocolDeviation.objects.count() == 4
    # The first row was never changed.
    assert ProtocolDeviation.objects.filter(pk=first.pk).values().get() == before


@pytest.mark.req("URS-PRT-009")
def test_one_open_deviation_per_cause_is_kept_by_the_database(patient, clinician):
    cycle = full_cycle(patient)
    _correct_day2(cycle, "60", "Dose from the pump log", clinician)
    first = ProtocolDeviation.objects.get()
    with pytest.raises(DatabaseError), transaction.atomic():  # a second chain for the cause
        ProtocolDeviation.objects.create(patient=patient, cycle=cycle, kind="underdose", day=2, description="x")
    ProtocolDeviation.objects.create(patient=patient, cycle=cycle, kind="underdose", day=2, description="y",
                                     predecessor=first)
    with pytest.raises(DatabaseError), transaction.atomic():  # a fork of the chain
        ProtocolDeviation.objects.create(patient=patient, cycle=cycle, kind="underdose", day=2, description="z",
                                         predecessor=first)


@pytest.mark.req("URS-PRO-004")
def test_review_follow_up_and_query_workflows_only_insert(rows, clinician, monitor):
    event, cycle = rows["event"], rows["cycle"]
    with CaptureQueriesContext(connection) as queries:
        safety_services.adverse_event_review(adverse_event=event, user=monitor, comment="Second look",
                                             reviewer_relatedness="certain")
        safety_services.adverse_event_follow_up(adverse_event=event, user=clinician,
                                                follow_up_date=date(2025, 3, 28), note="Resolved",
                                                outcome="recovered", end_date=date(2025, 3, 27))
        query = review_services.query_raise(record=cycle, field_name="height_cm", field_label="Height",
                                               record_label="Cycle 1", question="Height?", user=monitor)
        review_services.query_answer(query=query, user=clinician, text="165 cm")
        review_services.query_close(query=query, user=monitor, text="Thanks")
        review_services.query_reopen(query=query, user=monitor, text="Unit?")
    assert _rewrites(queries.captured_queries) == []
    # The latest medical review and follow-up count: a second row supersedes the first.
    annotated = AdverseEvent.objects.with_review_state().get(pk=event.pk)
    assert annotated.reviewer_relatedness == "certain"
    event.refresh_from_db()
    assert (event.outcome, event.end_date) == ("recovered", date(2025, 3, 27))
    assert [m.kind for m in query.messages.all()] == ["question", "answer", "close", "reopen"]


@pytest.mark.parametrize("model", [AdverseEventReview, AdverseEventFollowUp, ProtocolDeviation])
def test_the_admin_revert_page_of_a_read_only_table_saves_nothing(rows, model, client_for, admin_user):
    """simple-history's revert page saves the live record on POST after checking only the
    view permission: on these read-only admins it must refuse, not UPDATE the row."""
    from django.urls import reverse

    row = model.objects.first()
    version = model.history.filter(id=row.pk).first()
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_simple_history",
                  args=[row.pk, version.history_id])
    client = client_for(admin_user)
    page = client.get(url)
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {name: form[name].value() for name in form.fields if form[name].value() is not None}
    text = next(name for name in ("comment", "note", "description") if name in form.fields)
    data.update({text: "rewritten", "expected_version": row.version, "change_reason": "Edited in the admin"})
    before = model.objects.filter(pk=row.pk).values().get()
    response = client.post(url, data)
    assert response.status_code == 403
    assert model.objects.filter(pk=row.pk).values().get() == before
