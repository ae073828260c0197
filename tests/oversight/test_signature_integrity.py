"""Issue 12, finding 4: a signature or a source verification is valid only while
the hash of its record's current data equals its stored hash, and no recorded
invalidation ended it. Data changed behind the application's back (SQL), an
invalidation removed or an ``invalidated_at`` nulled all show as invalid, on
the timeline and in the audit's signature check; the review tables refuse
UPDATE (and DELETE on PostgreSQL)."""

from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from oversight import append_only
from review import services as review_services
from review.models import ReviewInvalidation, Signature, SourceVerification
from tests.patients.factories import PatientFactory
from tests.visits.factories import full_cycle

from .test_review import PASSWORD, edit_weight

pytestmark = pytest.mark.django_db
postgresql_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL DELETE trigger")


@pytest.fixture
def patient(site_a):
    return PatientFactory(site=site_a, subject_id="01-001")


@pytest.fixture
def cycle(patient):
    return full_cycle(patient)


def sign(record, user):
    return review_services.record_sign(record=record, user=user, password=PASSWORD, request=RequestFactory().post("/"))


def sql(statement, params=()):
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def refused(statement, params=()):
    try:
        with transaction.atomic():
            sql(statement, params)
    except DatabaseError as exc:
        assert "append-only" in str(exc)
        return True
    return False


def behind_the_apps_back(statement, params=(), tables=("core_signature", "core_sourceverification",
                                                       "core_reviewinvalidation")):
    """What the tables' owner could do: lift the guard, write, put it back."""
    append_only.unprotect_tables(connection, tables)
    try:
        sql(statement, params)
    finally:
        append_only.protect_tables(connection, tables)


def timeline(client, patient):
    return client.get(reverse("visits:timeline", args=[patient.pk])).content.decode()


def check_page(client):
    response = client.get(reverse("oversight:signature_check"))
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.req("URS-SIG-002")
def test_data_changed_behind_the_apps_back_shows_the_signature_invalid(client_for, investigator, monitor,
                                                                       patient, cycle):
    signature = sign(cycle, investigator)
    casebook = sign(patient, investigator)
    verification = review_services.cycle_verify(cycle=cycle, user=monitor)
    page = timeline(client_for(investigator), patient)
    assert page.count(f"Signed by {signature.signer_name}") == 2 and "SDV " in page
    assert "All 3 valid signatures and verifications match" in check_page(client_for(monitor))
    call_command("verify_signatures")  # exits 0

    sql("UPDATE visits_treatmentcycle SET weight_kg = %s WHERE id = %s", [Decimal("90.0"), cycle.pk])

    for row in (signature, casebook, verification):
        row.refresh_from_db()
        assert not row.is_valid and "altered outside the application" in row.invalidated_reason
    page = timeline(client_for(investigator), patient)
    assert "Signed by" not in page
    assert page.count("Signature not valid") == 2 and "SDV not valid" in page
    assert f'href="{reverse("oversight:cycle_sign", args=[cycle.pk])}"' in page  # can be signed again
    page = check_page(client_for(monitor))
    assert "3 of 3 signatures and verifications no longer match" in page
    assert "Treatment cycle 1" in page and "Casebook" in page and signature.data_hash[:10] in page
    with pytest.raises(CommandError, match="3 of 3"):
        call_command("verify_signatures")


@pytest.mark.req("URS-SIG-002")
def test_a_nulled_invalidation_still_shows_invalid(client_for, investigator, clinician, patient, cycle):
    signature = sign(cycle, investigator)
    assert edit_weight(client_for(clinician), patient, cycle, "72").status_code == 302
    assert "Signature invalidated" in timeline(client_for(investigator), patient)
    # The tables' owner nulls the old in-place flag and removes the invalidation row.
    behind_the_apps_back("UPDATE core_signature SET invalidated_at = NULL, invalidated_reason = ''")
    behind_the_apps_back("DELETE FROM core_reviewinvalidation")
    assert not ReviewInvalidation.objects.exists()
    signature.refresh_from_db()
    assert not signature.is_valid
    page = timeline(client_for(investigator), patient)
    assert "Signed by" not in page and "Signature not valid" in page
    with pytest.raises(CommandError, match="1 of 1"):
        call_command("verify_signatures")


@pytest.mark.req("URS-SIG-002")
def test_an_invalidation_is_a_new_row_that_survives_restoring_the_data(client_for, investigator, clinician,
                                                                        patient, cycle):
    signature = sign(cycle, investigator)
    edit_weight(client_for(clinician), patient, cycle, "72")
    invalidation = ReviewInvalidation.objects.get()
    assert (invalidation.signature, invalidation.user, invalidation.patient) == (signature, clinician, patient)
    assert "Scale recalibrated" in invalidation.reason
    # The data go back to what was signed: the signature stays invalidated.
    sql("UPDATE visits_treatmentcycle SET weight_kg = %s WHERE id = %s", [Decimal("70.0"), cycle.pk])
    sql("UPDATE visits_infusion SET dose_g = %s, volume_ml = %s WHERE cycle_id = %s",
        [Decimal("70"), Decimal("700"), cycle.pk])
    signature = Signature.objects.get()
    assert signature.invalidation is not None and not signature.is_valid
    call_command("verify_signatures")  # invalidated rows are not "broken": the app recorded why


@pytest.mark.parametrize("table", ["core_signature", "core_sourceverification", "core_reviewinvalidation"])
def test_review_tables_refuse_update(table, investigator, monitor, clinician, client_for, patient, cycle):
    sign(cycle, investigator)
    review_services.cycle_verify(cycle=cycle, user=monitor)
    edit_weight(client_for(clinician), patient, cycle, "72")  # one invalidation row each
    assert refused(f"UPDATE {table} SET patient_id = patient_id")
    assert table in append_only.protected_tables(connection)


@postgresql_only
@pytest.mark.parametrize("table", ["core_signature", "core_sourceverification", "core_reviewinvalidation"])
def test_review_tables_refuse_delete(table, investigator, monitor, clinician, client_for, patient, cycle):
    sign(cycle, investigator)
    review_services.cycle_verify(cycle=cycle, user=monitor)
    edit_weight(client_for(clinician), patient, cycle, "72")
    assert refused(f"DELETE FROM {table}")


@pytest.mark.req("URS-SIG-003")
def test_a_tampered_verification_can_be_verified_again(client_for, monitor, patient, cycle):
    first = review_services.cycle_verify(cycle=cycle, user=monitor)
    sql("UPDATE visits_treatmentcycle SET weight_kg = %s WHERE id = %s", [Decimal("90.0"), cycle.pk])
    assert f'href="{reverse("oversight:cycle_verify", args=[cycle.pk])}"' in timeline(client_for(monitor), patient)
    second = review_services.cycle_verify(cycle=cycle, user=monitor)
    first.refresh_from_db()
    assert "altered outside the application" in first.invalidated_reason and second.is_valid
    assert SourceVerification.objects.count() == 2
    call_command("verify_signatures")


def test_timeline_hashes_without_a_query_per_signed_cycle(client_for, investigator, monitor, patient):
    client = client_for(investigator)
    first = full_cycle(patient)
    sign(first, investigator)
    review_services.cycle_verify(cycle=first, user=monitor)
    sign(patient, investigator)
    timeline(client, patient)  # warm caches
    with CaptureQueriesContext(connection) as one:
        timeline(client, patient)
    for number in (2, 3):
        cycle = full_cycle(patient, number=number)
        sign(cycle, investigator)
        review_services.cycle_verify(cycle=cycle, user=monitor)
    sign(patient, investigator)
    with CaptureQueriesContext(connection) as three:
        page = timeline(client, patient)
    assert page.count("Signed by") == 4
    assert len(three) == len(one)


@pytest.mark.req("URS-SIG-003")
def test_data_and_hash_rewritten_together_are_caught_by_the_check(client_for, investigator, monitor,
                                                                   patient, cycle):
    sign(cycle, investigator)
    sql("UPDATE visits_treatmentcycle SET weight_kg = %s WHERE id = %s", [Decimal("90.0"), cycle.pk])
    forged = Signature.objects.get().current_hash
    behind_the_apps_back("UPDATE core_signature SET data_hash = %s", [forged])
    page = check_page(client_for(monitor))
    assert "1 of 1 signature and verification no longer match" in page
    assert "not the one its history recorded at creation" in page
    with pytest.raises(CommandError, match="1 of 1"):
        call_command("verify_signatures")
