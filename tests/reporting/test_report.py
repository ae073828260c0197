import math

import pytest
from django.core.management import call_command
from django.urls import reverse
from scipy import stats

from patients.models import Patient
from tests.patients.factories import PatientFactory
from tests.visits.factories import full_cycle
from visits.models import Assessment

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(settings):
    settings.DEBUG = True
    call_command("seed_demo", verbosity=0)


def test_demo_report_reproduces_the_reference_figures(client_for, coordinator, demo):
    response = client_for(coordinator).get(reverse("reporting:report"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "8/11 = 72.7 % (95 % CI 39.0–94.0)" in html
    assert "3/11 = 27.3 % (95 % CI 6.0–61.0)" in html
    assert "1/11 = 9.1 % (95 % CI 0.2–41.3)" in html  # patients with an adverse event
    assert response.context["report"].n == 11


def test_every_figure_recomputed_independently(client_for, coordinator, demo):
    """Recompute from the raw assessments with SciPy and compare with the report."""
    report = client_for(coordinator).get(reverse("reporting:report")).context["report"]
    first, last = {}, {}
    for a in Assessment.objects.order_by("assessment_date", "pk").select_related("patient"):
        first.setdefault(a.patient.subject_id, a)
        last[a.patient.subject_id] = a
    subjects = sorted(first)
    ck0 = [float(first[s].ck_u_per_l) for s in subjects]
    ck1 = [float(last[s].ck_u_per_l) for s in subjects]
    mmt0 = [first[s].mmt_total for s in subjects]
    mmt1 = [last[s].mmt_total for s in subjects]
    responders = sum((b - a) / b > 0.5 for b, a in zip(ck0, ck1))
    improved = sum(a >= b * 1.2 for b, a in zip(mmt0, mmt1))
    o = report.outcomes
    assert (o["ck_responders"].k, o["mmt_improved"].k) == (responders, improved) == (8, 3)
    ci = stats.binomtest(responders, 11).proportion_ci(method="exact")
    assert o["ck_responders"].ci_low == pytest.approx(100 * ci.low)
    ck_test = stats.wilcoxon([a - b for b, a in zip(ck0, ck1)], method="exact")
    assert o["ck_test"].p_value == pytest.approx(ck_test.pvalue)
    assert o["ck_test"].statistic == pytest.approx(ck_test.statistic)
    diffs = sorted(a - b for b, a in zip(ck0, ck1))
    assert o["ck_test"].differences.median == pytest.approx(diffs[5])
    log_t = stats.ttest_rel([math.log(x) for x in ck1], [math.log(x) for x in ck0])
    assert o["ck_log_t"].p_value == pytest.approx(log_t.pvalue)
    # MMT differences have ties and a zero: the exact distribution does not apply.
    mmt_diffs = [a - b for b, a in zip(mmt0, mmt1)]
    assert o["mmt_test"].method == "normal approximation"
    assert o["mmt_test"].p_value == pytest.approx(stats.wilcoxon(mmt_diffs, method="approx").pvalue)
    b = report.baseline
    ages = [p.age_at_enrolment for p in Patient.objects.all()]
    assert b["age"].mean == pytest.approx(sum(ages) / 11)
    assert (b["women"], b["men"], b["pm"], b["dm"], b["with_malignancy"]) == (6, 5, 5, 6, 4)
    assert b["ck"].median == pytest.approx(sorted(ck0)[5])
    assert report.exposure["cycles"].mean == 4 and report.exposure["days"] == 87
    assert report.safety["total"] == 1


def test_filters_by_site_and_diagnosis(client_for, coordinator, demo):
    client = client_for(coordinator)
    assert client.get(reverse("reporting:report"), {"site": "02"}).context["report"].n == 5
    assert client.get(reverse("reporting:report"), {"diagnosis": "PM"}).context["report"].n == 5
    page = client.get(reverse("reporting:report"), {"print": "1"})
    assert "navbar" not in page.content.decode()


def test_clinician_cannot_read_the_report_or_export(client_for, clinician, monitor):
    client = client_for(clinician)
    assert client.get(reverse("reporting:report")).status_code == 403
    assert client.get(reverse("exchange:exports")).status_code == 403
    assert client.get(reverse("exchange:export_download"), {"format": "csv"}).status_code == 403
    monitor_client = client_for(monitor)
    assert monitor_client.get(reverse("reporting:report")).status_code == 200
    assert monitor_client.get(reverse("exchange:exports")).status_code == 403


@pytest.mark.parametrize("n", [2, 12])
def test_report_runs_a_constant_number_of_queries(client_for, coordinator, site_a, n, django_assert_num_queries):
    for i in range(1, n + 1):
        patient = PatientFactory(site=site_a, subject_id=f"01-{i:03d}")
        full_cycle(patient, number=1)
        full_cycle(patient, number=2)
    client = client_for(coordinator)
    # session, user, memberships, role permissions (one query, issue 12); the report's 9: patients,
    # infusions grouped (with the days within the dose tolerance), cycles grouped, the first and
    # last assessments (with count, nadir, CK values), malignancies, deviations, adverse events
    # grouped, patients with an AE, CK series of the plotted patients; the site filter's choices
    with django_assert_num_queries(14):
        response = client.get(reverse("reporting:report"))
    assert response.context["report"].n == n


def test_empty_cohort_renders(client_for, coordinator):
    response = client_for(coordinator).get(reverse("reporting:report"))
    assert response.status_code == 200
    assert "No patient in this selection." in response.content.decode()
