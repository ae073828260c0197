"""Streaming building blocks shared by the export formats."""

import csv
import io
import zipfile


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


def stream_zip(members):
    """Yield a zip archive as it is written.

    ``members``: iterable of (file name, iterable of bytes). Nothing is held in
    memory beyond one compressed chunk: zipfile writes data descriptors when
    the target cannot seek.
    """
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive:
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


def file_chunks(fileobj, size=64 * 1024):
    fileobj.seek(0)
    while True:
        data = fileobj.read(size)
        if not data:
            return
        yield data


def spreadsheet_safe(value):
    """Text for a CSV that people open in a spreadsheet: a cell that would run as
    a formula is quoted with a leading apostrophe (CSV injection)."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
