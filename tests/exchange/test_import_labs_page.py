"""The lab-results import page (issue 17, point 2): upload, mapping, dry run, commit."""

import re
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.patients.factories import PatientFactory
from tests.visits.factories import AssessmentFactory, CycleFactory, full_cycle
from visits.models import Assessment

from .test_import_labs import D1, xlsx_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def cohort(site_a):
    patient = PatientFactory(site=site_a, subject_id="01-001")
    full_cycle(patient, number=1)
    return patient


def upload(client, text, name="labs.csv"):
    data = text.encode("utf-8") if isinstance(text, str) else text
    response = client.post(reverse("exchange:lab_import"), {"file": SimpleUploadedFile(name, data)})
    assert response.status_code == 302, response.content.decode()[:2000]
    return response["Location"]


@pytest.mark.req("URS-DAT-004")
def test_upload_dry_run_and_commit(client_for, clinician, cohort):
    client = client_for(clinician)
    page = client.get(reverse("exchange:lab_import"))
    assert page.status_code == 200 and b"lab-upload" in page.content
    review = upload(client, "Subject;Date;CK;CK ULN;LDH;LDH ULN\n01-001;17/03/2025;72,5;200;300;250\n")
    response = client.get(review)
    assert response.status_code == 200
    plan = response.context["plan"]
    assert [row.status for row in plan.rows] == ["changed"] and not plan.errors
    html = response.content.decode()
    assert "lab-commit" in html and "72.5" in html
    assert Assessment.objects.get().ck_u_per_l == Decimal("2400")  # a dry run stores nothing
    commit_url = reverse("exchange:lab_import_commit", args=[review.rstrip("/").split("/")[-1]])
    mapping = {name: value for name, value in response.context["form"].cleaned_data.items()}
    # Without a reason: refused, nothing stored.
    refused = client.post(commit_url, {**mapping, "digest": plan.digest, "reason": ""})
    assert refused.status_code == 400 and Assessment.objects.get().ck_u_per_l == Decimal("2400")
    done = client.post(commit_url, {**mapping, "digest": plan.digest, "reason": "Lab file of March"})
    assert done.status_code == 302
    stored = Assessment.objects.get()
    assert (stored.ck_u_per_l, stored.ldh_u_per_l, stored.ldh_uln_u_per_l) == (Decimal("72.5"), 300, 250)
    newest = stored.history.order_by("-history_id").first()
    assert (newest.history_change_reason, newest.history_user) == ("Lab file of March", clinician)
    assert client.get(review).status_code == 404  # the upload is gone after its commit


def test_a_commit_whose_data_changed_since_the_dry_run_is_refused_with_the_new_diff(client_for, clinician, cohort):
    client = client_for(clinician)
    review = upload(client, "Subject,Date,CK\n01-001,2025-03-17,100\n")
    response = client.get(review)
    plan = response.context["plan"]
    Assessment.objects.update(ck_u_per_l=Decimal("150"), version=2)
    commit_url = review + "commit/"
    mapping = response.context["form"].cleaned_data
    refused = client.post(commit_url, {**mapping, "digest": plan.digest, "reason": "x"})
    assert refused.status_code == 409
    assert refused.context["refused"].changed and b"lab-refused" in refused.content
    assert Assessment.objects.get().ck_u_per_l == Decimal("150")


def test_errors_are_listed_with_row_and_column_and_no_commit_form(client_for, clinician, cohort):
    client = client_for(clinician)
    data = xlsx_bytes([["Subject", "Date", "CK", "CK ULN"], ["01-001", D1, "n.d.", 200], ["09-999", D1, 5, 200]])
    response = client.get(upload(client, data, "labs.xlsx"))
    html = response.content.decode()
    assert "lab-errors" in html and "lab-commit" not in html
    errors = [(e.row, e.column) for e in response.context["plan"].errors]
    assert errors == [(2, "CK"), (3, "Subject")]


def test_the_mapping_can_be_changed_on_the_page(client_for, clinician, cohort):
    client = client_for(clinician)
    review = upload(client, "Who,When,Value,Range\n01-001,2025-03-17,100,200\n")
    first = client.get(review)
    assert first.context["plan"] is None and first.context["form"].errors  # no subject or date found
    second = client.get(review, {"subject": "Who", "date": "When", "ck_u_per_l": "Value", "ck_uln_u_per_l": "Range"})
    assert [row.status for row in second.context["plan"].rows] == ["changed"]


def test_an_unreadable_file_is_a_field_error(client_for, clinician):
    client = client_for(clinician)
    response = client.post(reverse("exchange:lab_import"), {"file": SimpleUploadedFile("a.xls", b"\xd0\xcf\x11")})
    assert response.status_code == 200 and "not an XLSX workbook" in str(response.context["form"].errors)


@pytest.mark.req("URS-AUT-006")
def test_who_may_import(client_for, coordinator, monitor, clinician, cohort):
    for user in (coordinator, monitor):
        assert client_for(user).get(reverse("exchange:lab_import")).status_code == 403
    nav = client_for(clinician).get(reverse("exchange:lab_import")).content.decode()
    assert reverse("exchange:lab_import") in nav
    other = client_for(coordinator).get("/patients/").content.decode()
    assert reverse("exchange:lab_import") not in other


def test_another_users_upload_is_not_found(client_for, clinician, make_user, site_a, cohort):
    review = upload(client_for(clinician), "Subject,Date,CK\n01-001,2025-03-17,100\n")
    colleague = make_user("clinician", site_a, username="colleague")
    from django.test import Client

    other = Client()
    other.force_login(colleague)
    assert other.get(review).status_code == 404


def test_the_dry_run_page_runs_a_constant_number_of_queries(client_for, clinician, site_a):
    client = client_for(clinician)

    def queries(n):
        lines = ["Subject,Date,CK,CK ULN"]
        for i in range(n):
            patient = PatientFactory(site=site_a, subject_id=f"01-{100 + n * 10 + i:03d}")  # varchar(6): 01-110 .. 01-539
            AssessmentFactory(cycle=CycleFactory(patient=patient, number=1), patient=patient)
            lines.append(f"{patient.subject_id},{D1},{1000 + i},200")
        review = upload(client, "\n".join(lines) + "\n")
        with CaptureQueriesContext(connection) as captured:
            response = client.get(review)
        assert len(response.context["plan"].rows) == n and not response.context["plan"].errors
        return len(captured.captured_queries)

    queries(1)  # warm the process-wide caches (content types)
    assert queries(2) == queries(30)


def test_the_page_in_french(client_for, clinician, cohort):
    client = client_for(clinician)
    client.cookies.load({"django_language": "fr"})
    review = upload(client, "Sujet;Date;CK;CK LSN\n01-001;17/03/2025;72,5;x\n")
    html = client.get(review, HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert re.search(r"Import des résultats de laboratoire", html)
