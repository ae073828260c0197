"""Issue 12, finding 4: migration core.0003 turns each in-place invalidation
(``invalidated_at`` set on the signature or verification row) into a
ReviewInvalidation row, so a row invalidated before the upgrade keeps showing
as invalid, with its reason, although validity is no longer read from the
old columns."""

import pytest
from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse
from django.utils import timezone

from oversight import append_only
from review.models import ReviewInvalidation, Signature, SourceVerification
from tests.patients.factories import PatientFactory
from tests.visits.factories import full_cycle

BEFORE = [("core", "0002_role_permissions")]
REASON = "Treatment cycle changed by clinician: scale recalibrated"


@pytest.fixture(scope="module", autouse=True)
def _migrated_data_back(restore_migrated_data):
    """This module's transactional tests flush the database (tests/conftest.py)."""


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.req("URS-CHG-002")
def test_rows_invalidated_before_the_upgrade_stay_invalid(site_a, investigator, monitor, client_for):
    patient = PatientFactory(site=site_a, subject_id="01-001")
    cycle = full_cycle(patient)
    leaves = MigrationExecutor(connection).loader.graph.leaf_nodes()
    cycle_type = ContentType.objects.get_for_model(cycle).pk
    try:
        _migrate(BEFORE)
        at = timezone.now()
        common = "content_type_id, object_id, patient_id, data_hash, invalidated_at, invalidated_reason"
        rows = [  # (table, extra columns, extra values, invalidated)
            ("core_signature", "signer_id, signer_name, meaning, signed_at",
             [investigator.pk, "Dr Test", "reviewed and approved", at], True),
            ("core_sourceverification", "verified_by_id, verified_at", [monitor.pk, at], True),
            ("core_signature", "signer_id, signer_name, meaning, signed_at",
             [investigator.pk, "Dr Test", "reviewed and approved", at], False),
        ]
        with connection.cursor() as cursor:
            for table, columns, values, invalidated in rows:
                params = [cycle_type, cycle.pk, patient.pk, "0" * 64, at if invalidated else None,
                          REASON if invalidated else "", *values]
                cursor.execute(f"INSERT INTO {table} ({common}, {columns}) "
                               f"VALUES ({', '.join(['%s'] * len(params))})", params)
    finally:
        _migrate(leaves)
        append_only.ensure_protected(connection, apps)  # what the post_migrate receiver does after migrate

    invalidations = ReviewInvalidation.objects.order_by("pk")
    assert [(i.reason, i.patient_id, bool(i.signature_id), bool(i.verification_id)) for i in invalidations] == [
        (REASON, patient.pk, True, False), (REASON, patient.pk, False, True)]
    first, last = Signature.objects.order_by("pk")
    assert first.invalidated_reason == REASON and not first.is_valid
    assert not SourceVerification.objects.get().is_valid
    # The row never invalidated has a stale hash ("0"*64): it shows as altered, not as valid.
    assert last.invalidation is None and not last.is_valid
    page = client_for(investigator).get(reverse("visits:timeline", args=[patient.pk])).content.decode()
    assert "Signed by" not in page
