"""The database connection drops in the middle of a cycle save.

A patch inside ``visits.services.cycle_save`` lets the assessment row be
written (after the cycle row) and then breaks the connection before the
infusions:

- ``kill`` (PostgreSQL only): a second connection terminates the request's
  own backend with ``pg_terminate_backend``; the next statement fails as it
  would when the server restarts or the network drops;
- ``raise`` (every backend, so SQLite too): the patch raises
  ``OperationalError`` at the same point.

Either way the user must get the 503 page of
``core.middleware.DatabaseUnavailableMiddleware`` (the API its JSON 503), and
nothing of the submission may be stored: no cycle, assessment, infusion,
deviation nor history row (counted on a fresh connection on PostgreSQL).

These tests commit for real (``transaction=True``): a killed connection
cannot roll back a test-wide transaction. ``serialized_rollback`` restores
the role groups of the data migrations for the tests that follow.
"""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import OperationalError, connection, connections
from django.urls import reverse
from rest_framework.test import APIClient

from api.services import token_create
from tests.patients.factories import PatientFactory
from visits import services
from visits.models import Assessment, Infusion, ProtocolDeviation, TreatmentCycle

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

ON_POSTGRES = connection.vendor == "postgresql"
MODES = ["kill", "raise"] if ON_POSTGRES else ["raise"]
MODELS = (TreatmentCycle, Assessment, Infusion, ProtocolDeviation)
TABLES = [m._meta.db_table for m in MODELS] + [m.history.model._meta.db_table for m in MODELS]

GRADES = ["neck_flexors", "deltoid", "biceps", "wrist_extensors", "gluteus_maximus", "gluteus_medius",
          "quadriceps", "ankle_dorsiflexors"]
START = date(2025, 3, 17)
PAGE_MESSAGES = ("The database could not be reached", "Nothing from this submission was saved")


# --- Helpers ---------------------------------------------------------------------------------

def _fresh_pg_connection():
    import psycopg2

    s = connection.settings_dict
    return psycopg2.connect(dbname=s["NAME"], user=s["USER"] or None, password=s["PASSWORD"] or None,
                            host=s["HOST"] or None, port=s["PORT"] or None)


def row_counts():
    """Rows in the cycle tables and their history tables, read on a connection
    that is not the request's (PostgreSQL), so nothing uncommitted is seen."""
    if ON_POSTGRES:
        fresh = _fresh_pg_connection()
        try:
            with fresh.cursor() as cursor:
                counts = {}
                for table in TABLES:
                    cursor.execute(f'SELECT count(*) FROM "{table}"')
                    counts[table] = cursor.fetchone()[0]
                return counts
        finally:
            fresh.close()
    # SQLite: the test database is in memory, the request's connection is the only one.
    with connection.cursor() as cursor:
        counts = {}
        for table in TABLES:
            cursor.execute(f'SELECT count(*) FROM "{table}"')
            counts[table] = cursor.fetchone()[0]
        return counts


def terminate_own_backend():
    """Terminate the backend of Django's connection from a second connection
    (and wait until it is gone: the next statement then surely fails)."""
    pid = connection.connection.get_backend_pid()
    killer = _fresh_pg_connection()
    try:
        killer.autocommit = True
        with killer.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s, 5000)", [pid])
            assert cursor.fetchone()[0] is True
    finally:
        killer.close()


@pytest.fixture
def break_after_assessment(monkeypatch):
    """Patch ``cycle_save``'s ``record_save``: once the assessment is written,
    break the database connection (``mode``), before the infusions."""
    state = {"fired": 0}

    def arm(mode, stay_down=False):
        real = services.record_save

        def record_save(*, instance, **kwargs):
            result = real(instance=instance, **kwargs)
            if isinstance(instance, Assessment) and not state["fired"]:
                state["fired"] += 1
                assert connection.in_atomic_block  # really in the middle of the save
                if stay_down:
                    # From now on every statement of this request fails: the
                    # error page must not need the database.
                    def down(*args, **kw):
                        raise OperationalError("could not connect to server: Connection refused")
                    monkeypatch.setattr(connections["default"], "cursor", down)
                if mode == "kill":
                    terminate_own_backend()
                else:
                    raise OperationalError("server closed the connection unexpectedly")
            return result

        monkeypatch.setattr(services, "record_save", record_save)
        return state

    return arm


def cycle_form_data(lot="FAULT-1"):
    data = {
        "cycle-start_date": START.isoformat(), "cycle-weight_kg": "70", "cycle-height_cm": "",
        "cycle-dosing_basis": "actual",
        "assessment-assessment_date": START.isoformat(), "assessment-mmt_scale": "kendall",
        "assessment-ck_u_per_l": "2400", "assessment-ck_uln_u_per_l": "200",
        **{f"assessment-mmt_{g}": "7" for g in GRADES},
    }
    for day in (1, 2):
        data.update({
            f"day{day}-infusion_date": (START + timedelta(days=day - 1)).isoformat(),
            f"day{day}-product": "Polyvalent IVIG 10 %", f"day{day}-lot": f"{lot}-{day}",
            f"day{day}-concentration_pct": "10", f"day{day}-volume_ml": "700", f"day{day}-dose_g": "70",
            f"day{day}-max_rate_ml_per_h": "150",
        })
    return data


def cycle_json(patient):
    def infusion(day):
        return {"day": day, "infusion_date": (START + timedelta(days=day - 1)).isoformat(),
                "product": "Polyvalent IVIG 10 %", "lot": f"API-{day}", "concentration_pct": "10.0",
                "volume_ml": "700.0", "dose_g": "70.0", "max_rate_ml_per_h": "150.0"}

    return {
        "patient": patient.pk, "start_date": START.isoformat(), "weight_kg": "70.0", "dosing_basis": "actual",
        "assessment": {"assessment_date": START.isoformat(), "mmt_scale": "kendall",
                       **{f"mmt_{g}": 7 for g in GRADES}, "ck_u_per_l": "2400", "ck_uln_u_per_l": "200"},
        "infusions": [infusion(1), infusion(2)],
    }


@pytest.fixture
def patient(site_a):
    return PatientFactory(site=site_a, subject_id="01-001", consent_date=date(2025, 3, 1),
                          enrolment_date=date(2025, 3, 10))


def assert_nothing_stored(before):
    after = row_counts()
    assert after == before, {t: (before[t], after[t]) for t in TABLES if before[t] != after[t]}


# --- The record-cycle page ---------------------------------------------------------------------

@pytest.mark.parametrize("mode", MODES)
@pytest.mark.req("URS-PRO-007")
def test_cycle_form_connection_lost_mid_save_is_a_503_and_stores_nothing(
        client, clinician, patient, break_after_assessment, mode):
    client.force_login(clinician)
    url = reverse("visits:cycle_create", args=[patient.pk])
    assert client.get(url).status_code == 200
    before = row_counts()
    state = break_after_assessment(mode)

    response = client.post(url, cycle_form_data())

    assert state["fired"] == 1
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    page = response.content.decode()
    for message in PAGE_MESSAGES:
        assert message in page
    assert_nothing_stored(before)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.req("URS-BCP-003")
def test_after_the_drop_the_same_submission_goes_through_once(
        client, clinician, patient, break_after_assessment, mode):
    """The user does what the page says (submit again): the next request opens a
    new connection and the cycle is stored once, as cycle 1."""
    client.force_login(clinician)
    url = reverse("visits:cycle_create", args=[patient.pk])
    break_after_assessment(mode)
    assert client.post(url, cycle_form_data()).status_code == 503

    response = client.post(url, cycle_form_data())

    assert response.status_code == 302, response.content.decode()[:2000]
    cycle = TreatmentCycle.objects.get(patient=patient)
    assert cycle.number == 1
    assert sorted(Infusion.objects.filter(cycle=cycle).values_list("lot", flat=True)) == ["FAULT-1-1", "FAULT-1-2"]
    assert Assessment.objects.filter(cycle=cycle).count() == 1
    assert cycle.history.filter(history_type="+").count() == 1
    assert Assessment.history.filter(history_type="+").count() == 1
    assert Infusion.history.filter(history_type="+").count() == 2


@pytest.mark.req("URS-BCP-003")
def test_cycle_form_database_staying_down_still_gets_the_503_page(
        client, clinician, patient, break_after_assessment, monkeypatch):
    """The error page itself must not need the database (no query after the failure)."""
    client.force_login(clinician)
    url = reverse("visits:cycle_create", args=[patient.pk])
    before = row_counts()
    break_after_assessment(MODES[0], stay_down=True)

    response = client.post(url, cycle_form_data())

    assert response.status_code == 503
    for message in PAGE_MESSAGES:
        assert message in response.content.decode()
    monkeypatch.undo()  # the database is back for the count
    assert_nothing_stored(before)


# --- The API -------------------------------------------------------------------------------------

def api_client(user):
    _, token = token_create(user=user)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return api


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.req("URS-PRO-007")
def test_api_cycle_connection_lost_mid_save_is_a_json_503_and_stores_nothing(
        clinician, patient, break_after_assessment, mode):
    api = api_client(clinician)
    before = row_counts()
    state = break_after_assessment(mode)

    response = api.post("/api/v1/cycles/", cycle_json(patient), format="json")

    assert state["fired"] == 1
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    body = response.json()
    assert body["code"] == "database_unavailable"
    assert "nothing was saved" in body["detail"]
    assert set(body) == {"detail", "code", "errors"}
    assert_nothing_stored(before)

    # Sent again, it is stored once.
    response = api.post("/api/v1/cycles/", cycle_json(patient), format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["number"] == 1
    assert TreatmentCycle.objects.filter(patient=patient).count() == 1
    assert Infusion.objects.filter(cycle__patient=patient).count() == 2


# --- Two writers, one patient ---------------------------------------------------------------------

@pytest.mark.req("URS-BCP-003")
def test_second_writer_of_the_same_cycle_number_gets_a_form_error_not_a_500(client, clinician, patient):
    """Two clinicians opened 'Record cycle 1' at the same time: the number is
    taken when the form is read, the second save waits for the patient's row
    lock and then finds cycle 1 taken. It must be a form error (200), with
    nothing stored twice."""
    from visits.forms import CycleEntry

    first = CycleEntry(cycle_form_data("A"), patient=patient, user=clinician)
    second = CycleEntry(cycle_form_data("B"), patient=patient, user=clinician)
    assert first.cycle.number == second.cycle.number == 1
    assert first.is_valid() and second.is_valid()
    assert first.save() is not None

    assert second.save() is None
    errors = " ".join(str(e) for e in second["cycle"].non_field_errors()) + " ".join(
        str(e) for field in second["cycle"].errors.values() for e in field)
    assert errors, "the refused save must say why"
    assert TreatmentCycle.objects.filter(patient=patient).count() == 1
    assert TreatmentCycle.history.filter(history_type="+").count() == 1
    assert Infusion.objects.filter(lot__startswith="B").count() == 0


def test_api_second_writer_of_the_same_cycle_gets_a_400_not_a_500(clinician, patient, monkeypatch):
    """Two programs post the patient's next cycle at the same moment: both pass
    validation, the second finds the first's cycle under the patient's row
    lock. It must be a 400 in the documented error shape, nothing stored twice."""
    from api import serializers as api_serializers

    real = api_serializers.cycle_save
    state = {"done": False}

    def first_writer_wins(**kwargs):
        if not state["done"]:
            state["done"] = True
            other = api_client(clinician).post("/api/v1/cycles/", cycle_json(patient), format="json")
            assert other.status_code == 201, other.json()
        return real(**kwargs)

    monkeypatch.setattr(api_serializers, "cycle_save", first_writer_wins)
    response = api_client(clinician).post("/api/v1/cycles/", cycle_json(patient), format="json")

    assert response.status_code == 400, response.content[:3000]
    body = response.json()
    assert set(body) == {"detail", "code", "errors"}
    assert body["errors"]
    assert TreatmentCycle.objects.filter(patient=patient).count() == 1
    assert TreatmentCycle.history.filter(history_type="+").count() == 1


@pytest.mark.skipif(not ON_POSTGRES, reason="a terminated backend needs PostgreSQL")
@pytest.mark.req("URS-BCP-003")
def test_connection_lost_during_validation_is_a_503_not_a_bogus_constraint_error(
        client, clinician, patient, monkeypatch):
    """Found by the load test: Django's conditional-constraint check (``Q.check``)
    turns a database error into 'violated', so a connection lost while the
    assessment is validated showed 'Constraint "assessment_one_end_of_treatment"
    is violated' on a pre-cycle assessment. It is a lost connection: 503."""
    from django.db.models import Q

    real_check = Q.check
    fired = []

    def check(self, against, using="default"):
        if not fired:
            fired.append(self)
            terminate_own_backend()  # the connection drops just as the constraint is checked
        return real_check(self, against, using=using)

    client.force_login(clinician)
    monkeypatch.setattr(Q, "check", check)
    before = row_counts()

    response = client.post(reverse("visits:cycle_create", args=[patient.pk]), cycle_form_data())

    assert fired
    assert response.status_code == 503, response.content.decode()[-3000:]
    assert "Nothing from this submission was saved" in response.content.decode()
    monkeypatch.undo()
    assert_nothing_stored(before)
