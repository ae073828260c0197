"""Migration review.0002: on a database upgraded from before the move, the content
types (and so the permissions the roles hold) of the review models follow them from
``core`` to ``review``; no role loses a grant, and the reverse puts them back."""

import pytest
from django.apps import apps
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from accounts.scoping import may
from oversight import append_only

BEFORE = [("review", "0001_initial")]
MOVED = ("signature", "sourceverification", "reviewinvalidation", "dataquery", "dataquerymessage",
         "historicalsignature", "historicalsourceverification", "historicalreviewinvalidation",
         "historicaldataquery", "historicaldataquerymessage")


@pytest.fixture(scope="module", autouse=True)
def _migrated_data_back(restore_migrated_data):
    """This module's transactional tests flush the database (tests/conftest.py)."""


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    ContentType.objects.clear_cache()


def _labels():
    return dict(ContentType.objects.filter(model__in=MOVED).values_list("model", "app_label"))


def _grants(role):
    return set(Group.objects.get(name=role).permissions
               .filter(content_type__model__in=MOVED)
               .values_list("content_type__app_label", "codename"))


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_role_grants_follow_the_models_to_review(site_a, investigator, monitor):
    leaves = MigrationExecutor(connection).loader.graph.leaf_nodes()
    try:
        _migrate(BEFORE)
        assert _labels() == dict.fromkeys(MOVED, "core")
        assert ("core", "sign_record") in _grants("investigator")
        core_signature = ContentType.objects.get(app_label="core", model="signature")
        # A post_migrate run between the two migrations made an empty review content type.
        stray = ContentType.objects.create(app_label="review", model="signature")
        Permission.objects.create(content_type=stray, codename="view_signature", name="Can view signature")
    finally:
        _migrate(leaves)
        append_only.ensure_protected(connection, apps)

    assert _labels() == dict.fromkeys(MOVED, "review")
    assert ContentType.objects.filter(model="signature").count() == 1
    assert ContentType.objects.get(app_label="review", model="signature").pk == core_signature.pk
    assert _grants("investigator") == {("review", "view_signature"), ("review", "sign_record"),
                                       ("review", "view_sourceverification"), ("review", "view_dataquery"),
                                       ("review", "answer_query")}
    assert ("review", "raise_query") in _grants("monitor") and ("review", "verify_source") in _grants("monitor")
    assert may(investigator, "review.sign_record", site_id=site_a.pk)
    assert may(monitor, "review.raise_query", site_id=site_a.pk)
    assert not may(investigator, "core.sign_record", site_id=site_a.pk)
