"""A synthetic cohort of 10, then 1,000 patients, generated once for the whole package.

Generating 1,000 patients per test would take minutes; instead the ``scale``
fixture writes 10 patients, measures every page, tops the cohort up to 1,000
and measures again, in one transaction that is rolled back before any test runs
(nothing leaks into other tests, and the append-only audit tables need no
DELETE). The tests then only compare the numbers it recorded.
"""

import time
from dataclasses import dataclass, field
from unittest import mock

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from demo.synthetic import generate_cohort

SMALL, LARGE = 10, 1000
#: Two cycles keep the package fast on SQLite; the query counts do not depend on it. Seed 13
#: gives the 10-patient cohort an adverse event (a serious one), deviations, malignancies, a
#: withdrawn and completed patients, so that no prefetch is skipped for want of rows.
CYCLES, SITES, SEED = 2, 5, 13


@dataclass
class Measure:
    count: int
    sql: list
    detail: dict = field(default_factory=dict)


@dataclass
class ScaleRun:
    small: dict = field(default_factory=dict)  # name -> Measure at SMALL patients
    large: dict = field(default_factory=dict)  # name -> Measure at LARGE patients
    french: dict = field(default_factory=dict)  # name -> Measure at LARGE patients, in French (issue 16)
    errors: dict = field(default_factory=dict)  # name -> problem found while measuring


def count_queries(function):
    """Queries run by ``function()``, with a cold content-type cache (as in a fresh process)."""
    ContentType.objects.clear_cache()
    started = time.monotonic()
    with CaptureQueriesContext(connection) as captured:
        detail = function() or {}
    detail["seconds"] = round(time.monotonic() - started, 2)
    return Measure(len(captured), [q["sql"] for q in captured.captured_queries], detail)


@pytest.fixture(scope="module")
def scale(django_db_setup, django_db_blocker):
    from tests.scale import pages

    from exchange.exports import odm

    run = ScaleRun()
    # The database exists only for tests marked django_db (see test_query_counts.pytestmark).
    name = str(connection.settings_dict["NAME"])
    assert "test" in name or "memory" in name, f"not a test database: {name}"
    # The ODM export reads patients odm.PATIENT_CHUNK (500) at a time, a fixed set of queries
    # per chunk (constant memory); one chunk covers both sizes here, so the counts compare.
    with django_db_blocker.unblock(), transaction.atomic(), \
            mock.patch.object(odm, "PATIENT_CHUNK", 2 * LARGE):
        generate_cohort(patients=SMALL, cycles=CYCLES, sites=SITES, seed=SEED, through="bulk")
        users = pages.make_users()
        pages.measure_all(users, run.small, run.errors, size=SMALL)
        started = time.monotonic()
        generate_cohort(patients=LARGE - SMALL, cycles=CYCLES, sites=SITES, seed=SEED + 1, through="bulk")
        run.generate_seconds = time.monotonic() - started
        pages.measure_all(users, run.large, run.errors, size=LARGE)
        pages.measure_all(users, run.french, run.errors, size=f"{LARGE}-fr", language="fr")
        transaction.set_rollback(True)  # nothing stays behind (the audit tables refuse DELETE)
    return run
