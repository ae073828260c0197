"""Streaming building blocks shared by the export formats."""

import csv
import io
import tempfile
import zipfile
from itertools import islice


class _Sink:
    """A write-only, non-seekable file: what zipfile writes, the generator drains."""

    def __init__(self):
        self._chunks = []
        self._position = 0

    def write(self, data):
        data = bytes(data)
        self._chunks.append(data)
        self._position += len(data)
        return len(data)

    def tell(self):
        return self._position

    def flush(self):
        pass

    def drain(self):
        data = b"".join(self._chunks)
        self._chunks.clear()
        return data


def stream_zip(members, compresslevel=None):
    """Yield a zip archive as it is written.

    ``members``: iterable of (file name, iterable of bytes). Nothing is held in
    memory beyond one compressed chunk: zipfile writes data descriptors when
    the target cannot seek. ``compresslevel``: zlib's 1 (fastest) to 9; None is
    zlib's default, 6.
    """
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=compresslevel) as archive:
        for name, chunks in members:
            with archive.open(name, "w", force_zip64=True) as member:
                for chunk in chunks:
                    member.write(chunk)
                    data = sink.drain()
                    if data:
                        yield data
    yield sink.drain()


def csv_chunks(header, rows, to_text, rows_per_chunk=500):
    """CSV (UTF-8, header row) as byte chunks of ``rows_per_chunk`` rows.

    ``header``: column names; ``rows``: dicts keyed by those names.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    pending = 0
    for row in rows:
        writer.writerow([to_text(row.get(name)) for name in header])
        pending += 1
        if pending >= rows_per_chunk:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    yield buffer.getvalue().encode("utf-8")


def csv_text_chunks(header, rows, rows_per_chunk=2000):
    """CSV (UTF-8, header row) as byte chunks of ``rows_per_chunk`` rows, written
    by ``csv.writer.writerows``: ``rows`` are sequences of cells in header order,
    already text (``Table.text_rows``: str, or None for an empty cell, or a value
    whose ``str()`` is its text)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    rows = iter(rows)
    while True:
        chunk = list(islice(rows, rows_per_chunk))
        writer.writerows(chunk)
        yield buffer.getvalue().encode("utf-8")
        if len(chunk) < rows_per_chunk:
            return
        buffer.seek(0)
        buffer.truncate()


def copy_csv_chunks(header, queryset, size=256 * 1024):
    """CSV (UTF-8, header row) of a values_list ``queryset`` whose every cell is text
    or NULL (``Table.text_query``), written by PostgreSQL's ``COPY ... TO STDOUT WITH
    CSV``: byte for byte what ``csv.writer`` writes for the same cells (NULL and, as
    ``text_query`` has none, empty strings give an empty unquoted cell; a cell with a
    comma, quote, CR or LF is quoted, quotes doubled), but for the line ends, LF from
    COPY, CRLF here: fixed outside quoted cells. The output is spooled to a temporary
    file (psycopg2's ``copy_expert`` writes all of it before returning), then read in
    ``size`` chunks: memory stays flat. One query, logged like any other."""
    from django.core.exceptions import EmptyResultSet
    from django.db import connections

    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(header)
    header_line = buffer.getvalue().encode("utf-8")
    connection = connections[queryset.db]
    try:
        sql, params = queryset.query.get_compiler(using=queryset.db).as_sql()
    except EmptyResultSet:  # e.g. an empty cohort (Patient.objects.none()): no query, no rows
        yield header_line
        return
    with tempfile.TemporaryFile() as spool:
        with connection.cursor() as cursor:
            cursor.copy_expert(f"COPY ({connection.ops.compose_sql(sql, params)}) TO STDOUT WITH (FORMAT csv)",
                               spool)
        yield header_line
        spool.seek(0)
        yield from crlf_line_ends(file_chunks(spool, size))


def crlf_line_ends(chunks):
    """CSV bytes with LF line ends -> CRLF, the LFs inside quoted cells left alone
    (a quote toggles in and out of a quoted cell; a doubled quote toggles twice)."""
    inside = False
    for data in chunks:
        if not inside and b'"' not in data:
            yield data.replace(b"\n", b"\r\n")
            continue
        parts = data.split(b'"')
        for i in range(1 if inside else 0, len(parts), 2):
            parts[i] = parts[i].replace(b"\n", b"\r\n")
        if len(parts) % 2 == 0:
            inside = not inside
        yield b'"'.join(parts)


def file_chunks(fileobj, size=64 * 1024):
    fileobj.seek(0)
    while True:
        data = fileobj.read(size)
        if not data:
            return
        yield data


#: A spreadsheet (Excel, LibreOffice Calc, Google Sheets) runs a cell as a formula when
#: its text starts with one of these (OWASP, "CSV injection"): = + - @, tab and carriage
#: return; Excel in East Asian locales may read the full-width = + - @ as the ASCII ones.
FORMULA_TRIGGERS = frozenset("=+-@\t\r\uff1d\uff0b\uff0d\uff20")
#: Skipped before looking for a trigger: an import that trims spaces (or a line feed
#: at the start of a quoted cell) would otherwise bring " =1+1" back to "=1+1".
LEADING_BLANKS = " \n"
#: Put before such a text: the spreadsheet shows the cell as text, never runs it.
FORMULA_ESCAPE = "'"


def spreadsheet_safe(value):
    """Text for a cell of a file that people open in a spreadsheet (CSV, XLSX): a
    text that would run as a formula (:data:`FORMULA_TRIGGERS`, after any
    :data:`LEADING_BLANKS`) gets a leading apostrophe; other text is unchanged;
    None is "". The one neutraliser of every tabular export (the cohort CSV and
    XLSX, the data dictionary, the SDTM CSVs, the audit trail and adverse-event
    listing CSVs); :func:`spreadsheet_safe_sql` is the same rule in SQL, for
    the cells PostgreSQL writes (``COPY``). Only text goes through it: numbers
    stay numbers."""
    text = "" if value is None else value if value.__class__ is str else str(value)
    return FORMULA_ESCAPE + text if text.lstrip(LEADING_BLANKS)[:1] in FORMULA_TRIGGERS else text


#: A text whose first character is none of these is left as it is by :func:`spreadsheet_safe`.
_FIRST_RISKY = FORMULA_TRIGGERS | frozenset(LEADING_BLANKS)


def spreadsheet_safe_column(texts):
    """:func:`spreadsheet_safe` of each of ``texts`` (str), as a list; a column none of whose
    texts starts with a trigger or a leading blank (nearly every column: codes, dates,
    terms) is returned as it is, after one look at the first characters."""
    if _FIRST_RISKY.isdisjoint({text[:1] for text in texts}):
        return texts if isinstance(texts, list) else list(texts)
    return list(map(spreadsheet_safe, texts))


def spreadsheet_safe_sql(expression):
    """:func:`spreadsheet_safe` of a text SQL expression, from the same constants
    (PostgreSQL and SQLite): NULL stays NULL, for the cells ``COPY`` writes.
    ``tests/reporting/test_spreadsheet_safety.py`` holds it against the Python rule."""
    from django.db.models import Case, Func, TextField, Value, When
    from django.db.models.functions import Concat, Substr
    from django.db.models.lookups import In

    first = Substr(Func(expression, Value(LEADING_BLANKS), function="LTRIM", output_field=TextField()), 1, 1)
    return Case(When(In(first, sorted(FORMULA_TRIGGERS)),
                     then=Concat(Value(FORMULA_ESCAPE), expression, output_field=TextField())),
                default=expression, output_field=TextField())
