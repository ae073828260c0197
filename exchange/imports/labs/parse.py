"""Reading a laboratory's spreadsheet: CSV or XLSX bytes -> a plain table, and its cells -> values.

No database here (``load`` reads and writes it). :func:`read` gives a :class:`Table`:
the header row and the data rows as text (JSON-serialisable, so the page can keep the
parsed file in the session between the dry run and the commit), each with its row
number as the spreadsheet shows it (the header is row 1).

- CSV: UTF-8 with or without a byte-order mark; the delimiter is the header row's
  (``;``, as French Excel writes, or ``,``; a tab also works). No other encoding is
  guessed: a file that is not UTF-8 is refused with a message saying so.
- XLSX: openpyxl in read-only mode with ``data_only=True``: a formula cell gives the
  value Excel last cached, never an evaluation; a formula without a cached value is
  empty. Only the first worksheet is read.
- Limits: :data:`MAX_BYTES` and :data:`MAX_ROWS` (a larger file is refused before any
  row is checked, not silently cut).

:func:`auto_mapping` maps the headers to the import's fields from their common names
("Subject", "USUBJID", "Date", "CK", "CPK", "CK ULN", "ASAT", "LSN"...);
:func:`parse_decimal` reads "72.5" and "72,5"; :func:`parse_date` reads ISO dates,
day-first dates (04/03/2026, 04.03.2026) and XLSX dates.
"""

import csv
import hashlib
import io
import re
import unicodedata
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 5000
MAX_COLUMNS = 60

SUBJECT, DATE = "subject", "date"

#: The lab fields: the Assessment field each column may fill, in the page's order.
LAB_FIELDS = (
    "ck_u_per_l", "ck_lln_u_per_l", "ck_uln_u_per_l",
    "aldolase_u_per_l", "aldolase_uln_u_per_l",
    "ldh_u_per_l", "ldh_uln_u_per_l",
    "ast_u_per_l", "ast_uln_u_per_l",
    "alt_u_per_l", "alt_uln_u_per_l",
)
#: Every field a column may be mapped to (the two keys, then the lab values).
FIELDS = (SUBJECT, DATE, *LAB_FIELDS)
KEY_LABELS = {SUBJECT: gettext_lazy("subject id"), DATE: gettext_lazy("assessment date")}

#: Header words of each analyte (after :func:`normal_header`).
ANALYTES = {
    "ck": ("ck", "cpk", "creatinekinase", "creatinekinase", "creatinephosphokinase", "cktotal"),
    "aldolase": ("aldolase", "aldo", "ald"),
    "ldh": ("ldh", "ld", "lacticdehydrogenase", "lactatedeshydrogenase", "lactatedehydrogenase"),
    "ast": ("ast", "asat", "sgot", "got"),
    "alt": ("alt", "alat", "sgpt", "gpt"),
}
#: Suffixes naming the upper and the lower limit of normal (English and French).
UPPER = ("uln", "upper", "upperlimit", "upperlimitofnormal", "high", "hi", "max", "refhigh", "lsn",
         "limitesup", "limitesuperieure", "normalhigh", "nrhi", "ornrhi")
LOWER = ("lln", "lower", "lowerlimit", "lowerlimitofnormal", "low", "lo", "min", "reflow", "lin",
         "limiteinf", "limiteinferieure", "normallow", "nrlo", "ornrlo")
SUBJECT_NAMES = ("subject", "subjectid", "usubjid", "subjid", "patient", "patientid", "subjectnumber",
                 "sujet", "numerosujet", "nsujet", "nodusujet", "identifiant", "idpatient", "patientno")
DATE_NAMES = ("date", "assessmentdate", "visitdate", "sampledate", "collectiondate", "specimendate",
              "lbdtc", "dateofsample", "dateofcollection", "dateprelevement", "datedeprelevement",
              "dateduprelevement", "dateevaluation", "datedevaluation", "datevisite", "datedelavisite")


class LabFileError(Exception):
    """The file cannot be read as a table: nothing else is checked."""

    def __init__(self, message):
        self.message = str(message)
        super().__init__(self.message)


@dataclass
class Table:
    """A spreadsheet's header row and data rows, as text (blank rows left out)."""

    name: str
    sha256: str
    kind: str  # "csv" or "xlsx"
    headers: list
    rows: list = field(default_factory=list)  # [(row number, [cell text or ""])]

    def as_dict(self):
        return {"name": self.name, "sha256": self.sha256, "kind": self.kind, "headers": self.headers,
                "rows": self.rows}

    @classmethod
    def from_dict(cls, data):
        return cls(name=data["name"], sha256=data["sha256"], kind=data["kind"], headers=list(data["headers"]),
                   rows=[(number, list(cells)) for number, cells in data["rows"]])


def read(data: bytes, name: str) -> Table:
    """The table of a CSV or XLSX file's bytes; :class:`LabFileError` if it cannot be read."""
    if len(data) > MAX_BYTES:
        raise LabFileError(_("The file is larger than %(max)s MB: split it.") % {"max": MAX_BYTES // (1024 * 1024)})
    if not data:
        raise LabFileError(_("The file is empty."))
    digest = hashlib.sha256(data).hexdigest()
    if data[:4] == b"PK\x03\x04":
        kind, rows = "xlsx", _xlsx_rows(data)
    elif name.lower().endswith((".xlsx", ".xlsm", ".xls")):
        raise LabFileError(_("This is not an XLSX workbook (an old .xls file? Save it as .xlsx or CSV)."))
    else:
        kind, rows = "csv", _csv_rows(data)
    header_number, headers = None, None
    table_rows = []
    for number, cells in rows:
        if not any(cells):
            continue
        if headers is None:
            header_number, headers = number, _headers(cells)
            continue
        if len(table_rows) >= MAX_ROWS:
            raise LabFileError(_("The file has more than %(max)s rows: split it.") % {"max": MAX_ROWS})
        table_rows.append((number, (cells + [""] * len(headers))[:len(headers)]))
    if headers is None:
        raise LabFileError(_("The file holds no header row."))
    if not table_rows:
        raise LabFileError(_("The file holds a header row (row %(row)s) but no data row.") % {"row": header_number})
    return Table(name=name, sha256=digest, kind=kind, headers=headers, rows=table_rows)


def _headers(cells):
    cells = [cell.strip() for cell in cells]
    while cells and not cells[-1]:
        cells.pop()
    if len(cells) > MAX_COLUMNS:
        raise LabFileError(_("The file has more than %(max)s columns.") % {"max": MAX_COLUMNS})
    seen = {}
    headers = []
    for index, cell in enumerate(cells, start=1):
        header = cell or _("(column %(n)s)") % {"n": index}
        if header in seen:
            raise LabFileError(_("Two columns are named %(header)r (columns %(first)s and %(second)s): rename "
                                 "one.") % {"header": header, "first": seen[header], "second": index})
        seen[header] = index
        headers.append(header)
    return headers


def _csv_rows(data):
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise LabFileError(_("The CSV file is not UTF-8 text: save it as \"CSV UTF-8\" (or as XLSX).")) from None
    if "\x00" in text:
        raise LabFileError(_("The file is not a CSV text file."))
    first_line = text.split("\n", 1)[0]
    delimiter = max(";,\t", key=first_line.count)
    if first_line.count(delimiter) == 0:
        delimiter = ";" if ";" in text else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        for cells in reader:
            if len(cells) > MAX_COLUMNS * 4:
                raise LabFileError(_("Row %(row)s has too many cells.") % {"row": reader.line_num})
            yield reader.line_num, [cell.strip() for cell in cells]
    except csv.Error as exc:
        raise LabFileError(_("Row %(row)s cannot be read as CSV: %(error)s") % {"row": reader.line_num,
                                                                               "error": exc}) from None


def _xlsx_rows(data):
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True, keep_links=False)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, TypeError) as exc:
        raise LabFileError(_("The workbook cannot be read: %(error)s") % {"error": exc}) from None
    try:
        sheet = workbook.worksheets[0]
        for number, values in enumerate(sheet.iter_rows(values_only=True, max_col=MAX_COLUMNS * 4), start=1):
            if number > MAX_ROWS + 100 and not any(v not in (None, "") for v in values):
                continue  # trailing formatted blank rows
            yield number, [cell_text(value) for value in values]
    finally:
        workbook.close()


def cell_text(value):
    """An XLSX cell's value as the text a CSV would hold (dates as ISO dates, numbers with a point)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        text = repr(value)
        return text[:-2] if text.endswith(".0") else text
    return str(value).strip()


# --- headers -> fields --------------------------------------------------------------------------


def normal_header(header):
    """Lower case, no accents, no unit in brackets, letters and digits only: "CK ULN (U/L)" -> "ckuln"."""
    text = unicodedata.normalize("NFKD", str(header)).encode("ascii", "ignore").decode().lower()
    text = re.sub(r"\(.*?\)|\[.*?\]", " ", text)
    text = re.sub(r"\b(u|ui|iu)\s*/\s*l\b", " ", text)  # a unit outside brackets
    return re.sub(r"[^a-z0-9]", "", text)


def _field_of(header):
    name = normal_header(header)
    if name in SUBJECT_NAMES:
        return SUBJECT
    if name in DATE_NAMES:
        return DATE
    for analyte, words in ANALYTES.items():
        for word in sorted(words, key=len, reverse=True):
            if not name.startswith(word):
                continue
            rest = name[len(word):]
            if rest in ("", "value", "result", "valeur", "resultat", "ul"):
                return f"{analyte}_u_per_l"
            if rest in UPPER:
                return f"{analyte}_uln_u_per_l"
            if rest in LOWER and analyte == "ck":
                return "ck_lln_u_per_l"
    return None


def auto_mapping(headers):
    """``{field: header}`` guessed from the headers' names; each field at most once (the first
    header that names it), unknown headers left out."""
    mapping = {}
    for header in headers:
        name = _field_of(header)
        if name is not None and name not in mapping:
            mapping[name] = header
    return mapping


# --- cells -> values ----------------------------------------------------------------------------

_SPACES = re.compile(r"[\s\u00a0\u202f']")
_DAY_FIRST = re.compile(r"^(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})$")
_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_TIME_PART = re.compile(r"[ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?$")


class CellError(ValueError):
    """A cell whose text is not a value of its field (the message says why)."""


def parse_decimal(text):
    """A decimal from "72.5", "72,5" (French) or "1 234,5"; None for an empty cell.
    :class:`CellError` for anything else ("<5", "1.234,5", "n.d.")."""
    text = _SPACES.sub("", text or "")
    if not text:
        return None
    if "," in text and "." in text:
        raise CellError(_("%(text)r mixes a decimal comma and a point: write one decimal separator only.")
                        % {"text": text})
    if text.count(",") == 1:
        text = text.replace(",", ".")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise CellError(_("%(text)r is not a number.") % {"text": text}) from None
    if not value.is_finite():
        raise CellError(_("%(text)r is not a number.") % {"text": text})
    # Trailing zeros are formatting ("72,50"), not precision: 72.5, so that the model's one
    # decimal place holds; never an exponent (100, not 1E+2).
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value.normalize()


def parse_date(text):
    """A date from "2026-03-04", "04/03/2026" (day first) or "04.03.2026" (a time after it is
    ignored); None for an empty cell. :class:`CellError` for anything else."""
    text = (text or "").strip()
    if not text:
        return None
    bare = _TIME_PART.sub("", text)
    match = _ISO.match(bare)
    try:
        if match:
            return date(int(match[1]), int(match[2]), int(match[3]))
        match = _DAY_FIRST.match(bare)
        if match:
            return date(int(match[3]), int(match[2]), int(match[1]))
    except ValueError:
        raise CellError(_("%(text)r is not a date of the calendar.") % {"text": text}) from None
    raise CellError(_("%(text)r is not a date: write 2026-03-04 or 04/03/2026 (day first).") % {"text": text})
