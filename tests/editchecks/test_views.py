"""The edit checks' page (every role reads it; counts scoped to the user's sites; constant
queries) and the switch (admins only, a reason required, audited, not run)."""

from decimal import Decimal

import pytest
from django.urls import reverse

from editchecks import services
from editchecks.checks import CHECKS
from editchecks.models import EditCheckSetting
from jobs.worker import run_pending
from review.models import DataQuery, QueryStatus
from visits.models import Assessment

pytestmark = pytest.mark.django_db


def _page(client, user):
    client.force_login(user)
    return client.get(reverse("editchecks:check_list"))


def test_every_role_reads_the_page_with_its_sites_counts(client, cycle, clinician, clinician_b, investigator,
                                                         coordinator, monitor, admin_user):
    Assessment.objects.filter(pk=cycle.assessment.pk).update(ck_u_per_l=Decimal("3000"))
    services.cohort_run(trigger="nightly")
    for user in (clinician, investigator, coordinator, monitor, admin_user):
        response = _page(client, user)
        assert response.status_code == 200
        row = next(r for r in response.context["rows"] if r.check.id == "EC001")
        assert (row.open_count, row.closed_count, row.last_run["raised"]) == (1, 0, 1)
        assert response.context["can_switch"] == (user == admin_user)
    assert [r.check.id for r in response.context["rows"]] == [c.id for c in CHECKS]
    content = response.content.decode()
    assert "CK above 10 times the upper limit" in content and "?check=EC001&amp;status=pending" in content
    row = next(r for r in _page(client, clinician_b).context["rows"] if r.check.id == "EC001")
    assert row.open_count == 0  # another site's query is not counted


def test_the_page_runs_a_constant_number_of_queries(client, cycle, admin_user, site_a):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.patients.factories import PatientFactory
    from tests.visits.factories import AssessmentFactory, CycleFactory

    client.force_login(admin_user)
    counts = []
    for size in (1, 8):
        while PatientFactory._meta.model.objects.count() < size:
            patient = PatientFactory(site=site_a)
            AssessmentFactory(cycle=CycleFactory(patient=patient), patient=patient, ck_u_per_l=Decimal("5000"))
        services.cohort_run(trigger="nightly")
        with CaptureQueriesContext(connection) as captured:
            assert client.get(reverse("editchecks:check_list")).status_code == 200
        counts.append(len(captured))
    assert counts[0] == counts[1]


@pytest.mark.req("URS-AUT-006")
def test_only_an_admin_switches_a_check_and_needs_a_reason(client, cycle, monitor, admin_user):
    url = reverse("editchecks:check_switch", args=["EC001"])
    client.force_login(monitor)
    assert client.get(url).status_code == 403
    assert client.post(url, {"reason": "no"}).status_code == 403
    client.force_login(admin_user)
    assert client.get(url).status_code == 200
    assert client.get(reverse("editchecks:check_switch", args=["EC999"])).status_code == 404
    response = client.post(url, {"reason": "  "})
    assert response.status_code == 200 and "reason" in response.context["form"].errors
    assert not EditCheckSetting.objects.exists()


def test_a_switched_off_check_closes_its_queries_does_not_run_and_is_audited(client, cycle, admin_user):
    Assessment.objects.filter(pk=cycle.assessment.pk).update(ck_u_per_l=Decimal("3000"))
    services.cohort_run(trigger="nightly")
    client.force_login(admin_user)
    response = client.post(reverse("editchecks:check_switch", args=["EC001"]),
                           {"reason": "Too many false alarms from the new lab's units"})
    assert response.status_code == 302
    setting = EditCheckSetting.objects.get()
    assert (setting.enabled, setting.changed_by) == (False, admin_user)
    query = DataQuery.objects.get()
    assert query.status == QueryStatus.CLOSED
    assert query.messages.last().text == ("Closed automatically: check EC001 was switched off by admin-all: "
                                          "Too many false alarms from the new lab's units")
    assert services.checks_run(patients=services.checkable_patients())["EC001"] == {"skipped": True}
    assert DataQuery.objects.count() == 1
    history = setting.history.get()
    assert (history.history_user, history.history_change_reason) == (
        admin_user, "Switched off: Too many false alarms from the new lab's units")
    trail = client.get("/oversight/audit/", {"record_type": "editchecks.editchecksetting"})
    assert trail.status_code == 200
    assert "Switched off: Too many false alarms" in trail.content.decode() and "EC001" in trail.content.decode()
    page = _page(client, admin_user).content.decode()
    assert "Switched off" in page and "Too many false alarms" in page

    # On again: the check runs over the cohort (a job) and raises what still fails.
    response = client.post(reverse("editchecks:check_switch", args=["EC001"]), {"reason": "Units fixed"})
    assert response.status_code == 302 and EditCheckSetting.objects.get().enabled
    run_pending()
    assert DataQuery.objects.filter(status=QueryStatus.OPEN, check_id="EC001").count() == 1
    assert setting.history.count() == 2
