"""XLSX (Office Open XML SpreadsheetML), written as it goes.

A workbook of plain sheets is a zip of a few fixed XML parts (content types,
relationships, the workbook with its sheet names, a style sheet) and one
``xl/worksheets/sheetN.xml`` per sheet: rows of cells. This module writes those
parts itself, a row at a time, with one formatter per column chosen by the
column's declared type, so a cell costs one small Python call. Measured at
10,000 patients (bench/NOTES.md): openpyxl's write-only mode and XlsxWriter's
constant-memory mode spend 4-6 microseconds per cell in their generic cell
machinery (4.4 million cells: 35-45 s); this writer well under one.

What a cell holds (the same as the openpyxl workbook it replaces, read back
alike):

- text: an inline string (``t="inlineStr"``), after ``spreadsheet_safe`` (the
  caller's job); XML-escaped; a carriage return as ``&#13;`` (a bare one would
  become a line feed when read); the characters XML 1.0 cannot hold at all
  (other C0 controls) and a literal ``_xHHHH_`` as Office's ``_xHHHH_``
  escapes, which Excel and LibreOffice decode;
- integers and decimals: numbers (``<v>``; 16 significant digits, as openpyxl);
- booleans: ``t="b"``;
- dates, times, datetimes: Excel serial numbers (days since 1899-12-30, the
  time of day as a fraction) with the number formats openpyxl gives them
  (``yyyy-mm-dd``, ``h:mm:ss``, ``yyyy-mm-dd h:mm:ss``); datetimes in UTC
  without a zone;
- an empty text: an empty text cell; None: no cell.

The zip goes to a temporary (seekable) file, so every member's sizes stand in
its local header as Office writes them (no data descriptors), then is streamed.
Memory: one chunk of rows.
"""

import re
import tempfile
import zipfile
from datetime import date, datetime
from xml.sax.saxutils import quoteattr

from .base import file_chunks

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
RELATIONSHIPS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PACKAGE_RELATIONSHIPS = "http://schemas.openxmlformats.org/package/2006/relationships"
DECLARATION = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'

#: zlib level of the parts: the sheets' XML is repetitive, level 2 deflates it about
#: 3x faster than the default 6 for a file about 15 % larger (bench/NOTES.md).
ZIP_LEVEL = 2
#: Rows per written chunk.
ROWS_PER_CHUNK = 1000

#: Style indexes in ``xl/styles.xml`` (cellXfs) and the number formats of dates.
STYLE_HEADER, STYLE_DATE, STYLE_DATETIME, STYLE_TIME = 1, 2, 3, 4
DATE_FORMATS = {"date": "yyyy-mm-dd", "datetime": "yyyy-mm-dd h:mm:ss", "time": "h:mm:ss"}
STYLES = f"""{DECLARATION}<styleSheet xmlns="{MAIN}">\
<numFmts count="3"><numFmt numFmtId="164" formatCode="{DATE_FORMATS['date']}"/>\
<numFmt numFmtId="165" formatCode="{DATE_FORMATS['datetime']}"/>\
<numFmt numFmtId="166" formatCode="{DATE_FORMATS['time']}"/></numFmts>\
<fonts count="2"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font>\
<font><b/><sz val="11"/><name val="Calibri"/><family val="2"/></font></fonts>\
<fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill></fills>\
<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>\
<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>\
<cellXfs count="5"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>\
<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>\
<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>\
<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>\
<xf numFmtId="166" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs>\
<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>\
</styleSheet>"""

# --- cells ------------------------------------------------------------------------------

#: What needs more than a plain copy in a text: XML's three, a carriage return, the
#: characters XML 1.0 cannot hold, and a literal Office escape.
_SPECIAL = re.compile("[&<>\r\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]|_x[0-9A-Fa-f]{4}_")
_OFFICE_ESCAPE = re.compile("_x[0-9A-Fa-f]{4}_|[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _office_escape(match):
    text = match.group(0)
    return "_x005F" + text if len(text) > 1 else f"_x{ord(text):04X}_"


def xml_text(text):
    """``text`` as the content of a ``<t>`` element."""
    if _SPECIAL.search(text) is None:
        return text
    text = _OFFICE_ESCAPE.sub(_office_escape, text)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")


_EPOCH = datetime(1899, 12, 30)
_EPOCH_DAY = _EPOCH.date()


def _serial_day(day):
    """Days since 1899-12-30, Excel's day numbers (as openpyxl counts them: one day less
    up to 1900-02-28, Lotus's phantom 1900-02-29)."""
    days = (day - _EPOCH_DAY).days
    return days - 1 if 0 < days <= 60 else days


def _day_fraction(moment):
    return (moment.hour * 3600 + moment.minute * 60 + moment.second + moment.microsecond / 10**6) / 86400


def _number(value):
    """A number as ``<v>`` text: integers as they are, decimals and floats with 16
    significant digits, as openpyxl wrote them (Excel keeps 15)."""
    return str(value) if value.__class__ is int else "%.16g" % value


def column_letters(index):
    """0 -> A, 25 -> Z, 26 -> AA."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def cell_writers(types):
    """One function per column, ``cell(value, row number) -> XML`` ("" for None), by the
    column's declared type: string, integer, decimal, boolean, date, datetime, time
    (``exchange.datasets.Column.type``)."""
    return [_writer(kind, column_letters(index)) for index, kind in enumerate(types)]


def _writer(kind, letters):
    if kind == "string":
        def cell(value, row):
            if value is None:
                return ""
            if value == "":  # an empty text cell, as openpyxl wrote it
                return f'<c r="{letters}{row}" t="inlineStr"/>'
            return f'<c r="{letters}{row}" t="inlineStr"><is><t xml:space="preserve">{xml_text(value)}</t></is></c>'
    elif kind in ("integer", "decimal"):
        def cell(value, row):
            return "" if value is None else f'<c r="{letters}{row}"><v>{_number(value)}</v></c>'
    elif kind == "boolean":
        def cell(value, row):
            return "" if value is None else f'<c r="{letters}{row}" t="b"><v>{1 if value else 0}</v></c>'
    elif kind == "date":
        def cell(value, row):
            if value is None:
                return ""
            serial = _serial_day(value) if value.__class__ is date else _serial_day(value.date()) + _day_fraction(value)
            return f'<c r="{letters}{row}" s="{STYLE_DATE}"><v>{serial}</v></c>'
    elif kind == "datetime":
        def cell(value, row):
            if value is None:
                return ""
            serial = _serial_day(value.date()) + _day_fraction(value)  # UTC, as Django reads it
            return f'<c r="{letters}{row}" s="{STYLE_DATETIME}"><v>{"%.16g" % serial}</v></c>'
    elif kind == "time":
        def cell(value, row):
            if value is None:
                return ""
            return f'<c r="{letters}{row}" s="{STYLE_TIME}"><v>{"%.16g" % _day_fraction(value)}</v></c>'
    else:
        raise ValueError(f"no XLSX cell for a column of type {kind!r}")
    return cell


def header_row(names):
    cells = "".join(f'<c r="{column_letters(i)}1" t="inlineStr" s="{STYLE_HEADER}"><is><t>{xml_text(name)}</t></is></c>'
                    for i, name in enumerate(names))
    return f'<row r="1">{cells}</row>'


# --- the workbook ------------------------------------------------------------------------

class Sheet:
    """One worksheet part: ``rows`` takes the rows (sequences of values in column order)
    and is the place that iterates over them."""

    OPENING = f'{DECLARATION}<worksheet xmlns="{MAIN}"><sheetData>'
    CLOSING = "</sheetData></worksheet>"

    def __init__(self, name, column_names, types):
        self.name = name
        self.column_names = column_names
        self.cells = cell_writers(types)

    def chunks(self, rows):
        """The part's XML as UTF-8 byte chunks of ``ROWS_PER_CHUNK`` rows."""
        cells = self.cells
        buffer = [self.OPENING, header_row(self.column_names)]
        for number, values in enumerate(rows, start=2):
            buffer.append(f'<row r="{number}">{"".join([cell(value, number) for cell, value in zip(cells, values)])}</row>')
            if len(buffer) >= ROWS_PER_CHUNK:
                yield "".join(buffer).encode("utf-8")
                buffer.clear()
        buffer.append(self.CLOSING)
        yield "".join(buffer).encode("utf-8")


def _content_types(count):
    sheets = "".join(f'<Override PartName="/xl/worksheets/sheet{n}.xml" '
                     'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
                     for n in range(1, count + 1))
    return (f'{DECLARATION}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/styles.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
            f'{sheets}</Types>')


ROOT_RELS = (f'{DECLARATION}<Relationships xmlns="{PACKAGE_RELATIONSHIPS}">'
             f'<Relationship Id="rId1" Type="{RELATIONSHIPS}/officeDocument" Target="xl/workbook.xml"/>'
             '</Relationships>')


def _workbook(names):
    sheets = "".join(f'<sheet name={quoteattr(name)} sheetId="{n}" r:id="rId{n}"/>'
                     for n, name in enumerate(names, start=1))
    return f'{DECLARATION}<workbook xmlns="{MAIN}" xmlns:r="{RELATIONSHIPS}"><sheets>{sheets}</sheets></workbook>'


def _workbook_rels(count):
    rels = "".join(f'<Relationship Id="rId{n}" Type="{RELATIONSHIPS}/worksheet" Target="worksheets/sheet{n}.xml"/>'
                   for n in range(1, count + 1))
    return (f'{DECLARATION}<Relationships xmlns="{PACKAGE_RELATIONSHIPS}">{rels}'
            f'<Relationship Id="rId{count + 1}" Type="{RELATIONSHIPS}/styles" Target="styles.xml"/>'
            '</Relationships>')


def workbook_chunks(sheets):
    """An XLSX file as byte chunks. ``sheets``: a list of (:class:`Sheet`, rows); the rows
    are read when their sheet is written, in order."""
    names = [sheet.name for sheet, _rows in sheets]
    spool = tempfile.TemporaryFile()
    with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=ZIP_LEVEL) as archive:
        archive.writestr("[Content_Types].xml", _content_types(len(sheets)))
        archive.writestr("_rels/.rels", ROOT_RELS)
        archive.writestr("xl/workbook.xml", _workbook(names))
        archive.writestr("xl/_rels/workbook.xml.rels", _workbook_rels(len(sheets)))
        archive.writestr("xl/styles.xml", STYLES)
        for n, (sheet, rows) in enumerate(sheets, start=1):
            with archive.open(f"xl/worksheets/sheet{n}.xml", "w") as part:
                for chunk in sheet.chunks(rows):
                    part.write(chunk)
    return file_chunks(spool)
