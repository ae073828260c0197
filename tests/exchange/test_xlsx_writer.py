"""exchange.exports.xlsx, the streaming SpreadsheetML writer behind the XLSX export:
what each cell type reads back as (openpyxl), without a database."""

import io
from datetime import date, datetime, time, timezone
from decimal import Decimal

import openpyxl
import pytest

from exchange.exports.xlsx import Sheet, column_letters, workbook_chunks, xml_text

TYPES = ["string", "integer", "decimal", "boolean", "date", "datetime", "time"]


def read_back(rows, types=TYPES):
    names = [f"col_{t}" for t in types]
    data = b"".join(workbook_chunks([(Sheet("one", names, types), rows), (Sheet("two", ["x"], ["string"]), [])]))
    return openpyxl.load_workbook(io.BytesIO(data))


@pytest.mark.req("URS-CPY-001")
def test_cells_read_back_with_their_types_and_formats():
    moment = datetime(2025, 3, 14, 9, 26, 53, 589000, tzinfo=timezone.utc)
    book = read_back([["a & <b> \"c\"", 7, Decimal("69.30"), True, date(2025, 2, 17), moment, time(8, 30)],
                      [None, None, None, False, None, None, None]])
    assert book.sheetnames == ["one", "two"]
    sheet = book["one"]
    header = [(c.value, c.font.b) for c in sheet[1]]
    assert header == [(f"col_{t}", True) for t in TYPES]
    row = sheet[2]
    assert [c.value for c in row[:4]] == ["a & <b> \"c\"", 7, 69.3, True]
    assert [c.data_type for c in row[:4]] == ["s", "n", "n", "b"]
    assert row[4].value == datetime(2025, 2, 17) and row[4].number_format == "yyyy-mm-dd"
    assert abs(row[5].value - moment.replace(tzinfo=None)).total_seconds() < 0.001
    assert row[5].number_format == "yyyy-mm-dd h:mm:ss"
    assert row[6].value == time(8, 30) and row[6].number_format == "h:mm:ss"
    assert [c.value for c in sheet[3]][:4] == [None, None, None, False]
    assert book["two"].max_row == 1


def test_text_is_kept_as_typed():
    """Carriage returns, text that looks like markup, an error code or a formula are text."""
    texts = ["\r=1+1", "line\r\nbreak", "<r><t>x</t></r>", "#N/A", "=SUM(A1)", " padded ", "é中"]
    sheet = read_back([[t] for t in texts], ["string"])["one"]
    cells = [row[0] for row in sheet.iter_rows(min_row=2)]
    assert [c.value for c in cells] == texts
    assert {c.data_type for c in cells} == {"s"}


def test_characters_xml_cannot_hold_use_office_escapes():
    assert xml_text("a\x01b") == "a_x0001_b"
    assert xml_text("_x0041_") == "_x005F_x0041_"  # a literal escape stays literal in Excel
    assert xml_text("plain_x_text") == "plain_x_text"
    assert xml_text("a\rb<") == "a&#13;b&lt;"


def test_column_letters():
    assert [column_letters(i) for i in (0, 25, 26, 51, 52, 701, 702)] == ["A", "Z", "AA", "AZ", "BA", "ZZ", "AAA"]
