"""CSV (a zip with one file per table and the data dictionary) and XLSX."""

import tempfile

from openpyxl import Workbook
from openpyxl.styles import Font

from .. import datasets
from .base import csv_chunks, file_chunks, stream_zip

README = f"""IVIG myositis trial: cohort export

{datasets.DEIDENTIFICATION_NOTE}

One CSV file per table (UTF-8, comma-separated, header row); data_dictionary.csv
describes every variable: table, label, type, unit and allowed codes.
Empty cells are missing values. Booleans are true/false; decimals use a point.
"""


def csv_zip(patients):
    members = [("README.txt", [README.encode("utf-8")])]
    for table in datasets.TABLES:
        members.append((f"{table.name}.csv", csv_chunks(table.column_names, table.rows(patients),
                                                        datasets.as_text)))
    members.append(("data_dictionary.csv", csv_chunks(datasets.DICTIONARY_COLUMNS,
                                                      datasets.dictionary_rows(), datasets.as_text)))
    return stream_zip(members)


def _cell(value):
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
        from openpyxl.cell import WriteOnlyCell
        cells = []
        for name in names:
            cell = WriteOnlyCell(sheet, value=name)
            cell.font = bold
            cells.append(cell)
        return cells

    for table in datasets.TABLES:
        sheet = workbook.create_sheet(table.name)
        sheet.append(header_row(sheet, table.column_names))
        for row in table.rows(patients):
            sheet.append([_cell(row.get(name)) for name in table.column_names])
    sheet = workbook.create_sheet("data_dictionary")
    sheet.append(header_row(sheet, datasets.DICTIONARY_COLUMNS))
    for row in datasets.dictionary_rows():
        sheet.append([row[name] for name in datasets.DICTIONARY_COLUMNS])
    spool = tempfile.TemporaryFile()
    workbook.save(spool)
    return file_chunks(spool)
