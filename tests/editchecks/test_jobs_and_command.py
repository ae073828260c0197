"""The nightly run (a periodic background job), its log, and ``manage.py run_edit_checks``."""

from datetime import date, datetime, timezone as dt_timezone
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from editchecks import services
from editchecks.models import EditCheckRun, RunTrigger
from jobs.schedules import SCHEDULES, enqueue_due
from jobs.worker import run_pending
from review.models import DataQuery, QueryStatus
from visits.models import Assessment

pytestmark = pytest.mark.django_db


@pytest.mark.req("URS-CHK-005")
def test_the_nightly_run_is_a_periodic_job_over_the_whole_cohort(cycle):
    schedule = SCHEDULES["editchecks.nightly"]
    assert schedule.task == "editchecks.tasks:run_nightly" and schedule.at.hour == 2
    Assessment.objects.filter(pk=cycle.assessment.pk).update(ck_u_per_l=Decimal("3000"))
    now = datetime(2026, 1, 10, 3, 0, tzinfo=dt_timezone.utc)
    assert "editchecks.nightly" in enqueue_due(now, schedules={"editchecks.nightly": schedule})
    assert enqueue_due(now, schedules={"editchecks.nightly": schedule}) == []  # once per slot
    run_pending()
    query = DataQuery.objects.get()
    assert (query.check_id, query.status) == ("EC001", QueryStatus.OPEN)
    run = EditCheckRun.objects.get()
    assert run.trigger == RunTrigger.NIGHTLY and run.finished_at is not None and run.patients == 1
    assert run.results["EC001"] == {"failing": 1, "raised": 1, "closed": 0}
    # A second night (a retried job too) raises nothing more; the correction is closed by the next one.
    services.cohort_run(trigger=RunTrigger.NIGHTLY)
    assert DataQuery.objects.count() == 1
    Assessment.objects.filter(pk=cycle.assessment.pk).update(ck_u_per_l=Decimal("300"))
    assert services.cohort_run(trigger=RunTrigger.NIGHTLY).results["EC001"]["closed"] == 1


def test_the_cohort_run_reads_a_constant_number_of_queries(site_a, django_assert_num_queries):
    """The nightly run over the cohort: a fixed number of queries per check (bulk reads),
    whatever the number of patients (here with nothing failing: the writes are per query)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.patients.factories import PatientFactory
    from tests.visits.factories import AssessmentFactory, CycleFactory

    services.system_user()
    counts = []
    for size in (2, 12):
        while PatientFactory._meta.model.objects.count() < size:
            patient = PatientFactory(site=site_a)
            AssessmentFactory(cycle=CycleFactory(patient=patient), patient=patient, ck_u_per_l=Decimal("100"))
        with CaptureQueriesContext(connection) as captured:
            services.cohort_run(trigger=RunTrigger.COMMAND)
        counts.append(len(captured))
    assert counts[0] == counts[1]


def test_the_command_runs_lists_and_dry_runs(cycle):
    Assessment.objects.filter(pk=cycle.assessment.pk).update(ck_u_per_l=Decimal("3000"))
    out = StringIO()
    call_command("run_edit_checks", "--list", stdout=out)
    assert "EC001: CK above 10 times the upper limit of normal" in out.getvalue() and "[on]" in out.getvalue()
    out = StringIO()
    call_command("run_edit_checks", "--dry-run", "--check", "EC001", stdout=out)
    assert "EC001" in out.getvalue() and "1 failing" in out.getvalue() and "Cycle 2 assessment" in out.getvalue()
    assert not DataQuery.objects.exists()
    out = StringIO()
    call_command("run_edit_checks", "--patient", "01-001", stdout=out)
    assert "EC001: 1 failing, 1 queries raised, 0 closed" in out.getvalue()
    assert not EditCheckRun.objects.exists()  # one patient: not a cohort run
    call_command("run_edit_checks", stdout=StringIO())
    assert EditCheckRun.objects.get().trigger == RunTrigger.COMMAND
    assert DataQuery.objects.count() == 1
    with pytest.raises(CommandError):
        call_command("run_edit_checks", "--check", "EC999")
    with pytest.raises(CommandError):
        call_command("run_edit_checks", "--patient", "99-999")
