"""CSV (a zip with one file per table and the data dictionary) and XLSX."""

from .. import datasets
from .base import copy_csv_chunks, csv_chunks, csv_text_chunks, spreadsheet_safe, stream_zip
from .xlsx import Sheet, workbook_chunks

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


def xlsx(patients):
    """A workbook with one sheet per table and the dictionary (``exports.xlsx``), text
    cells through ``spreadsheet_safe``; written to a temporary file, then streamed."""
    sheets = [(Sheet(table.name, table.column_names, [c.type for c in table.columns]),
               _safe_rows(table.tuples(patients), [c.type == "string" for c in table.columns]))
              for table in datasets.TABLES]
    sheets.append((Sheet("data_dictionary", datasets.DICTIONARY_COLUMNS, ["string"] * len(datasets.DICTIONARY_COLUMNS)),
                   ([spreadsheet_safe(row[name]) for name in datasets.DICTIONARY_COLUMNS]
                    for row in datasets.dictionary_rows())))
    return workbook_chunks(sheets)


def _safe_rows(rows, text):
    """``rows`` with the cells of the text columns through ``spreadsheet_safe``."""
    positions = [i for i, is_text in enumerate(text) if is_text]
    for values in rows:
        values = list(values)
        for i in positions:
            if values[i] is not None:
                values[i] = spreadsheet_safe(values[i])
        yield values
