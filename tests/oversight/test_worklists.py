"""Issue 14, item 6: no silent caps on the dashboard (each count links to its full,
paginated, filterable list), the cycle and casebook work lists with their filters and
a constant number of queries, and the query list's default (open and answered)."""

import pytest
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from oversight.dashboard import LIST_LIMIT
from review import services as review_services
from review.models import DataQuery
from tests.patients.factories import PatientFactory
from tests.visits.factories import CycleFactory

from .test_review import PASSWORD

pytestmark = pytest.mark.django_db

CYCLES = "oversight:cycle_list"


def sign(record, user):
    return review_services.record_sign(record=record, user=user, password=PASSWORD, request=RequestFactory().post("/"))


def patients_with_cycles(site, n_patients, cycles_each=1, start=1):
    patients = []
    for i in range(start, start + n_patients):
        patient = PatientFactory(site=site, subject_id=f"{site.code}-{i:03d}")
        for number in range(1, cycles_each + 1):
            CycleFactory(patient=patient, number=number)
        patients.append(patient)
    return patients


@pytest.mark.req("URS-OPS-006")
def test_a_capped_section_says_so_and_links_to_the_whole_list(client_for, investigator, site_a):
    patients_with_cycles(site_a, 20)  # 20 cycles awaiting signature, 15 shown
    client = client_for(investigator)
    page = client.get(reverse("oversight:dashboard"))
    section = page.context["sections"]["unsigned_cycles"]
    assert (section.count, len(section.items), section.capped) == (20, LIST_LIMIT, True)
    html = page.content.decode()
    url = reverse(CYCLES) + "?signature=unsigned"
    assert f'15 of 20 shown · <a href="{url}">see all 20</a>' in html
    listed = client.get(url)
    assert listed.context["paginator"].count == 20 and len(listed.context["cycles"]) == 20


def test_an_uncapped_section_still_links_to_its_list(client_for, monitor, site_a):
    patients_with_cycles(site_a, 3)
    page = client_for(monitor).get(reverse("oversight:dashboard"))
    section = page.context["sections"]["unverified"]
    assert (section.count, section.capped) == (3, False)
    assert f'<a href="{reverse(CYCLES)}?sdv=unverified">see all 3 in the list</a>' in page.content.decode()
    assert page.context["sections"]["sae"].url == reverse("oversight:ae_queue")


def test_the_cycle_list_is_paginated_by_50(client_for, monitor, site_a):
    patients_with_cycles(site_a, 26, cycles_each=2)
    client = client_for(monitor)
    first = client.get(reverse(CYCLES))
    assert first.context["paginator"].count == 52 and len(first.context["cycles"]) == 50
    assert len(client.get(reverse(CYCLES), {"page": 2}).context["cycles"]) == 2


@pytest.mark.req("URS-OPS-006")
def test_the_cycle_list_filters(client_for, monitor, investigator, admin_user, site_a, site_b):
    a1, a2 = patients_with_cycles(site_a, 2)
    (b1,) = patients_with_cycles(site_b, 1)
    signed = a1.cycles.get()
    sign(signed, investigator)
    review_services.cycle_verify(cycle=a2.cycles.get(), user=monitor)
    b1.locked_at = timezone.now()
    b1.save(update_fields=["locked_at"])
    client = client_for(monitor)

    def listed(**params):
        page = client.get(reverse(CYCLES), params)
        assert page.status_code == 200
        return sorted(c.patient.subject_id for c in page.context["cycles"])

    assert listed() == ["01-001", "01-002", "02-001"]
    assert listed(signature="signed") == ["01-001"]
    assert listed(signature="unsigned") == ["01-002", "02-001"]
    assert listed(sdv="verified") == ["01-002"]
    assert listed(sdv="unverified") == ["01-001", "02-001"]
    assert listed(locked="true") == ["02-001"]
    assert listed(locked="false") == ["01-001", "01-002"]
    assert listed(site=site_b.pk) == ["02-001"]
    assert listed(patient=a2.pk) == ["01-002"]
    assert listed(signature="unsigned", site=site_a.pk) == ["01-002"]
    # A bad value is a shown error, not a wider list; a clinician sees his own site only.
    bad = client.get(reverse(CYCLES), {"sdv": "maybe"})
    assert "sdv" in bad.context["filter_errors"]
    assert [c.patient.subject_id for c in client_for(investigator).get(reverse(CYCLES)).context["cycles"]] == [
        "01-001", "01-002"]


def test_the_casebook_list_filters(client_for, investigator, site_a):
    done, on_study = patients_with_cycles(site_a, 2)
    done.status = "completed"
    done.save(update_fields=["status"])
    client = client_for(investigator)
    url = client.get(reverse("oversight:dashboard")).context["sections"]["unsigned_casebooks"].url
    assert [p.subject_id for p in client.get(url).context["casebooks"]] == ["01-001"]
    assert client.get(reverse("oversight:casebook_list")).context["paginator"].count == 2


@pytest.mark.parametrize("n", [2, 12])
def test_the_cycle_list_runs_a_constant_number_of_queries(client_for, monitor, site_a, n,
                                                            django_assert_num_queries):
    patients_with_cycles(site_a, n, cycles_each=2)
    client = client_for(monitor)
    client.get(reverse(CYCLES))  # warms the content-type cache
    # session, user, roles, role permissions, the SAE banner, count, the site choices, the page
    # (its review state annotated, its patient and site joined): the same at 4 and 24 cycles
    with django_assert_num_queries(8):
        assert client.get(reverse(CYCLES), {"signature": "unsigned"}).status_code == 200


# --- the query list and the dashboard's query section ------------------------------------

@pytest.fixture
def queries(monitor, clinician, site_a):
    cycle = CycleFactory(patient=PatientFactory(site=site_a, subject_id="01-001"))

    def raise_one(field):
        return review_services.query_raise(record=cycle, field_name=field, field_label=field, record_label="Cycle 1",
                                           question="Check?", user=monitor)
    open_, answered, closed = raise_one("weight_kg"), raise_one("height_cm"), raise_one("start_date")
    review_services.query_answer(query=answered, user=clinician, text="Checked.")
    review_services.query_answer(query=closed, user=clinician, text="Checked.")
    review_services.query_close(query=closed, user=monitor)
    return {"open": open_, "answered": answered, "closed": closed}


@pytest.mark.req("URS-OPS-002")
def test_the_query_list_shows_open_and_answered_by_default(client_for, monitor, queries):
    client = client_for(monitor)

    def listed(**params):
        return sorted(q.status for q in client.get(reverse("oversight:query_list"), params).context["queries"])

    assert listed() == ["answered", "open"]
    assert listed(status="open") == ["open"]
    assert listed(status="answered") == ["answered"]
    assert listed(status="closed") == ["closed"]
    assert listed(status="") == ["answered", "closed", "open"]
    assert 'value="pending" selected' in client.get(reverse("oversight:query_list")).content.decode()


@pytest.mark.req("URS-OPS-006")
def test_the_dashboard_counts_the_queries_each_role_acts_on(client_for, monitor, clinician, queries):
    mine = client_for(monitor).get(reverse("oversight:dashboard")).context["sections"]["queries"]
    assert (mine.count, mine.url) == (2, reverse("oversight:query_list"))
    site = client_for(clinician).get(reverse("oversight:dashboard")).context["sections"]["queries"]
    assert (site.count, site.url) == (1, reverse("oversight:query_list") + "?status=open")
    assert [q.pk for q in site.items] == [queries["open"].pk]
    assert DataQuery.objects.count() == 3
