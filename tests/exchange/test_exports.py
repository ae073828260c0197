import csv
import io
import zipfile

import openpyxl
import pytest
from django.core.management import CommandError, call_command
from django.http import StreamingHttpResponse
from django.urls import reverse

from patients.models import Patient
from exchange import datasets
from exchange.exports import FORMATS, tabular
from reporting.models import ExportLog

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(settings):
    settings.DEBUG = True
    call_command("seed_demo", verbosity=0)


def read_zip(data):
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert archive.testzip() is None
    return {name: archive.read(name).decode("utf-8") for name in archive.namelist()}


def csv_rows(text):
    return list(csv.DictReader(io.StringIO(text)))


@pytest.mark.req("URS-CPY-001", "URS-DOC-003")
def test_csv_zip_holds_every_table_and_the_dictionary(demo):
    files = read_zip(b"".join(tabular.csv_zip(datasets.cohort())))
    assert set(files) == {"README.txt", "data_dictionary.csv", *[f"{t.name}.csv" for t in datasets.TABLES]}
    counts = {t.name: len(csv_rows(files[f"{t.name}.csv"])) for t in datasets.TABLES}
    assert counts == {"patients": 11, "diagnoses": 11, "malignancies": 4, "cycles": 44, "assessments": 53,
                      "infusions": 87, "adverse_events": 1, "deviations": 4,
                      "missed_cycles": 1,  # issue 15: the demo's one missed cycle (02-004)
                      "medications": 7}  # issue 17: demo.cohort.MEDICATIONS
    dictionary = csv_rows(files["data_dictionary.csv"])
    described = {(r["table"], r["variable"]) for r in dictionary}
    for table in datasets.TABLES:
        header = next(csv.reader(io.StringIO(files[f"{table.name}.csv"])))
        assert all((table.name, column) in described for column in header)
    assert "De-identified" in dictionary[0]["label"]
    sex = next(r for r in dictionary if r["table"] == "patients" and r["variable"] == "sex")
    assert sex["allowed_codes"] == "F=Female; M=Male"


@pytest.mark.req("URS-CPY-001", "URS-CPY-005")
def test_csv_values_are_de_identified_and_correct(demo):
    files = read_zip(b"".join(tabular.csv_zip(datasets.cohort())))
    patients = csv_rows(files["patients.csv"])
    first = patients[0]
    assert first["subject_id"] == "01-001" and first["age"] == "39"
    assert not any("birth" in key for key in first)
    db = Patient.objects.get(subject_id="01-001")
    assert str(db.birth_year) not in files["patients.csv"]
    infusions = csv_rows(files["infusions.csv"])
    underdose = next(r for r in infusions if r["subject_id"] == "01-002" and r["cycle"] == "2" and r["day"] == "2")
    assert (underdose["dose_g"], underdose["prescribed_dose_g"]) == ("69.3", "81.5")
    cycles = csv_rows(files["cycles.csv"])
    second = next(r for r in cycles if r["subject_id"] == "01-001" and r["cycle"] == "2")
    assert second["planned_start_date"] == "2025-02-17"  # previous start 2025-01-20 + 28 days


@pytest.mark.req("URS-CPY-001")
def test_xlsx_opens_in_openpyxl(demo):
    data = b"".join(tabular.xlsx(datasets.cohort()))
    workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
    assert workbook.sheetnames == [t.name for t in datasets.TABLES] + ["data_dictionary"]
    rows = list(workbook["infusions"].iter_rows(values_only=True))
    assert rows[0][0] == "subject_id" and len(rows) == 88


@pytest.mark.req("URS-CPY-001")
def test_empty_cohort_gives_valid_empty_files():
    files = read_zip(b"".join(tabular.csv_zip(Patient.objects.none())))
    assert csv_rows(files["patients.csv"]) == []
    assert files["patients.csv"].startswith("subject_id,")
    workbook = openpyxl.load_workbook(io.BytesIO(b"".join(tabular.xlsx(Patient.objects.none()))))
    assert workbook["patients"].max_row == 1


@pytest.mark.req("URS-CPY-010")
def test_web_download_streams_and_logs(client_for, coordinator, demo):
    client = client_for(coordinator)
    assert client.get(reverse("exchange:exports")).status_code == 200
    response = client.get(reverse("exchange:export_download"), {"format": "csv", "site": "02", "diagnosis": "DM"})
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Disposition"].startswith('attachment; filename="ivig-cohort-csv-')
    files = read_zip(b"".join(response.streaming_content))
    subjects = {r["subject_id"] for r in csv_rows(files["patients.csv"])}
    assert subjects == set(Patient.objects.filter(site__code="02", diagnosis__kind="DM")
                           .values_list("subject_id", flat=True))
    log = ExportLog.objects.get()
    assert (log.user, log.format, log.filters, log.row_counts["patients"]) == (
        coordinator, "csv", {"site": "02", "diagnosis": "DM"}, len(subjects))


@pytest.mark.req("URS-CPY-010")
def test_unknown_format_is_400_and_logs_nothing(client_for, coordinator):
    response = client_for(coordinator).get(reverse("exchange:export_download"), {"format": "pdf"})
    assert response.status_code == 400
    assert "Unknown export format 'pdf'" in response.content.decode()
    assert not ExportLog.objects.exists()


def test_admin_sees_the_export_log(client_for, coordinator, admin_user, demo):
    client_for(coordinator).get(reverse("exchange:export_download"), {"format": "xlsx"})
    page = client_for(admin_user).get(reverse("exchange:exports"))
    assert list(page.context["export_log"]) == list(ExportLog.objects.all())
    assert "coordinator" in page.content.decode()


@pytest.mark.req("URS-CPY-010")
def test_command_writes_the_file_and_logs(tmp_path, demo):
    out = tmp_path / "cohort.zip"
    call_command("export_cohort", "--format", "csv", "--output", str(out), "--site", "01", verbosity=0)
    files = read_zip(out.read_bytes())
    assert len(csv_rows(files["patients.csv"])) == 6
    log = ExportLog.objects.get()
    assert (log.user, log.channel, log.filters) == (None, "cli", {"site": "01"})


def test_command_unknown_format_exits_2(tmp_path):
    with pytest.raises(CommandError) as exc:
        call_command("export_cohort", "--format", "pdf", "--output", str(tmp_path / "x"))
    assert exc.value.returncode == 2
    assert "Unknown export format" in str(exc.value)


def test_every_format_is_registered():
    assert list(FORMATS) == ["csv", "xlsx", "odm", "sdtm", "fhir"]
