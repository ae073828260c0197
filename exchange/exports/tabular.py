"""CSV (a zip with one file per table and the data dictionary) and XLSX."""

import tempfile

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ERROR_CODES
from openpyxl.styles import Font

from .. import datasets
from .base import copy_csv_chunks, csv_chunks, csv_text_chunks, file_chunks, spreadsheet_safe, stream_zip

README = f"""IVIG myositis trial: cohort export

{datasets.DEIDENTIFICATION_NOTE}

One CSV file per table (UTF-8, comma-separated, header row); data_dictionary.csv
describes every variable: table, label, type, unit and allowed codes.
Empty cells are missing values. Booleans are true/false; decimals use a point.
A text that a spreadsheet would run as a formula (starting with = + - @, a tab or
a carriage return, after any spaces or line feeds) starts with an apostrophe (').
"""


#: zlib level of the CSV zip: at 10,000 patients (27.7 MB of CSV) level 2 deflates in
#: 0.18 s to 6.0 MB, the default 6 in 0.74 s to 4.5 MB (bench/NOTES.md).
CSV_ZIP_LEVEL = 2


def csv_zip(patients):
    members = [("README.txt", [README.encode("utf-8")])]
    copy = datasets.sql_text_supported(patients.db)
    for table in datasets.TABLES:
        if copy and table.text_query is not None:  # PostgreSQL writes the CSV (COPY), the same bytes
            chunks = datasets.table_written(table, copy_csv_chunks(table.column_names, table.text_query(patients)))
        else:
            chunks = csv_text_chunks(table.column_names, table.text_rows(patients), datasets.TEXT_CHUNK)
        members.append((f"{table.name}.csv", chunks))
    members.append(("data_dictionary.csv", csv_chunks(datasets.DICTIONARY_COLUMNS,
                                                      datasets.dictionary_rows(), _dictionary_text)))
    return stream_zip(members, compresslevel=CSV_ZIP_LEVEL)


def _dictionary_text(value):
    return spreadsheet_safe(datasets.as_text(value))


def _cell(sheet, value):
    """A value as an XLSX cell: text as a string cell, through ``spreadsheet_safe``
    (openpyxl makes a formula of a text starting with "=", which it no longer does,
    and an error cell of a text such as "#N/A": that one is given as a string cell);
    numbers, dates and booleans as themselves, times without a zone (UTC)."""
    if isinstance(value, str):
        text = spreadsheet_safe(value)
        if text in ERROR_CODES:
            cell = WriteOnlyCell(sheet, value=text)
            cell.data_type = "s"
            return cell
        return text
    if isinstance(value, bool) or value is None:
        return value
    if hasattr(value, "tzinfo") and getattr(value, "tzinfo", None) is not None:
        return value.replace(tzinfo=None)  # Excel has no time zones: exported times are UTC
    return value


def xlsx(patients):
    """A workbook with one sheet per table and the dictionary, written in
    openpyxl's write-only mode to a temporary file, then streamed."""
    workbook = Workbook(write_only=True)
    bold = Font(bold=True)

    def header_row(sheet, names):
        cells = []
        for name in names:
            cell = WriteOnlyCell(sheet, value=name)
            cell.font = bold
            cells.append(cell)
        return cells

    for table in datasets.TABLES:
        sheet = workbook.create_sheet(table.name)
        sheet.append(header_row(sheet, table.column_names))
        for values in table.tuples(patients):
            sheet.append([_cell(sheet, value) for value in values])
    sheet = workbook.create_sheet("data_dictionary")
    sheet.append(header_row(sheet, datasets.DICTIONARY_COLUMNS))
    for row in datasets.dictionary_rows():
        sheet.append([_cell(sheet, row[name]) for name in datasets.DICTIONARY_COLUMNS])
    spool = tempfile.TemporaryFile()
    workbook.save(spool)
    return file_chunks(spool)
