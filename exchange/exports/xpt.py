"""SAS transport (XPORT) version 5, written as a stream.

One dataset per file (what the FDA and the CDISC SDTM conventions expect):
80-byte header records, a 140-byte NAMESTR record per variable, then the
observations as fixed-width records back to back, the file padded with blanks
to a multiple of 80 bytes. Character values are stored as bytes (UTF-8 here),
blank-padded to the variable's width (1..200 bytes); numbers as 8-byte IBM 370
(hexadecimal) floating point, a missing number as ``.`` followed by zeros.

The layout is the one ReadStat (pyreadstat) writes, byte for byte apart from
the creation time stamp, so files read back the same with pyreadstat,
``pandas.read_sas(format="xport")`` and SAS.

The widths must be known before the first observation: :func:`dataset_chunks`
takes them with the variables, then the observations a chunk at a time (given
column-wise: the conversions run a column at a time), and never holds more than
one chunk.
"""

import re
import struct
import time
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain, islice, repeat

RECORD = 80
NAMESTR_LENGTH = 140
NAME_MAX = 8
LABEL_MAX = 40
CHAR_MAX = 200
NUMERIC_WIDTH = 8

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,7}$")
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")

MISSING = b"." + bytes(7)
ZERO = bytes(8)


@dataclass(frozen=True)
class Variable:
    name: str
    label: str
    numeric: bool = False
    width: int = NUMERIC_WIDTH  # bytes; always 8 for a number

    def __post_init__(self):
        if not _NAME.match(self.name):
            raise ValueError(f"{self.name!r}: not a SAS v5 variable name (letters, digits, _; at most 8)")
        if len(self.label.encode("utf-8")) > LABEL_MAX:
            raise ValueError(f"{self.name}: label longer than {LABEL_MAX} bytes")
        if self.numeric and self.width != NUMERIC_WIDTH:
            raise ValueError(f"{self.name}: a number is {NUMERIC_WIDTH} bytes wide")
        if not self.numeric and not 1 <= self.width <= CHAR_MAX:
            raise ValueError(f"{self.name}: character width {self.width} outside 1..{CHAR_MAX}")


# --- IBM 370 floating point ----------------------------------------------------------

_DOUBLE = struct.Struct(">d")
_FRACTION = (1 << 52) - 1


def ibm_float(value):
    """An IEEE double as the 8 bytes of an IBM 370 double (sign, excess-64 base-16
    exponent, 56-bit fraction). Exact: the 53 bits of the IEEE mantissa always fit
    in the 56 of the IBM fraction. NaN -> missing (``.``); below 16**-65 -> 0."""
    if value != value:
        return MISSING
    if value == 0:
        return ZERO
    bits = int.from_bytes(_DOUBLE.pack(value), "big")
    biased = (bits >> 52) & 0x7FF
    if biased == 0x7FF:
        raise ValueError(f"{value!r} cannot be stored in a SAS transport file")
    if biased == 0:  # subnormal: far below the smallest IBM double
        return ZERO
    mantissa = (bits & _FRACTION) | (1 << 52)  # value = mantissa * 2**(biased - 1075)
    power = biased - 763  # value = mantissa * 2**(power - 312) = M * 16**(exponent - 64) / 2**56
    shift = power & 3
    exponent = power >> 2
    if exponent > 127:
        raise ValueError(f"{value!r} is beyond the range of an IBM double")
    if exponent < 0:
        return ZERO
    return ((((bits >> 63) << 7 | exponent) << 56) | (mantissa << shift)).to_bytes(8, "big")


_ibm_cached = lru_cache(maxsize=2048)(ibm_float)  # SEQ, VISITNUM, study days, grades repeat


def number_bytes(value):
    """A number (or None: missing) as stored in an observation."""
    if value is None:
        return MISSING
    return _ibm_cached(float(value))


# --- Header records --------------------------------------------------------------------

def _record(text):
    data = text.encode("utf-8") if isinstance(text, str) else text
    if len(data) > RECORD:
        raise ValueError("header record longer than 80 bytes")
    return data.ljust(RECORD, b" ")


def _header(name, *numbers):
    numbers = (numbers + (0,) * 6)[:6]
    return _record(f"HEADER RECORD*******{name:<8}HEADER RECORD!!!!!!!" + "".join(f"{n:05d}" for n in numbers))


def timestamp(when=None):
    """ddMMMyy:hh:mm:ss, local time (what SAS writes); ``when``: seconds since the epoch,
    Django's clock (``timezone.now``, as every other export's time) by default."""
    if when is None:
        from django.utils import timezone

        when = timezone.now().timestamp()
    t = time.localtime(when)
    return f"{t.tm_mday:02d}{_MONTHS[t.tm_mon - 1]}{t.tm_year % 100:02d}:{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"


def _text(value, width):
    data = value.encode("utf-8")
    if len(data) > width:
        raise ValueError(f"{value!r}: more than {width} bytes")
    return data.ljust(width, b" ")


def _namestr(index, variable, position):
    return b"".join([
        struct.pack(">hhhh", 1 if variable.numeric else 2, 0, variable.width, index + 1),
        _text(variable.name, NAME_MAX),
        _text(variable.label, LABEL_MAX),
        b" " * 8,  # format name
        # format length, decimals, justification (numbers right: 1, text left: 0); filler
        struct.pack(">hhh", 0, 0, 1 if variable.numeric else 0) + bytes(2),
        b" " * 8,  # informat name
        struct.pack(">hhi", 0, 0, position),  # informat length, decimals; position in the observation
        bytes(52),
    ])


def _pad(length):
    """Blanks that bring ``length`` bytes to a whole number of 80-byte records."""
    return b" " * (-length % RECORD)


def header(name, label, variables, created=None):
    """Every record before the first observation (library, member, NAMESTRs, OBS)."""
    if not _NAME.match(name):
        raise ValueError(f"{name!r}: not a SAS v5 dataset name")
    if len(label.encode("utf-8")) > LABEL_MAX:
        raise ValueError(f"{name}: dataset label longer than {LABEL_MAX} bytes")
    names = [v.name.upper() for v in variables]
    if len(set(names)) != len(names):
        raise ValueError(f"{name}: duplicate variable names")
    stamp = timestamp(created)
    parts = [
        _header("LIBRARY"),
        _record(f"{'SAS':<8}{'SAS':<8}{'SASLIB':<8}{'6.06':<8}{'bsd4.2':<8}{'':<24}{stamp:>16}"),
        _record(stamp),
        _header("MEMBER", 0, 0, 0, 160, 0, NAMESTR_LENGTH),
        _header("DSCRPTR"),
        _record(f"{'SAS':<8}{name:<8}{'SASDATA':<8}{'6.06':<8}{'bsd4.2':<8}{'':<24}{stamp:>16}"),
        _record(stamp.rjust(16).encode() + b" " * 16 + _text(label, LABEL_MAX) + b" " * 8),
        _header("NAMESTR", 0, len(variables)),
    ]
    position = 0
    namestrs = []
    for index, variable in enumerate(variables):
        namestrs.append(_namestr(index, variable, position))
        position += variable.width
    block = b"".join(namestrs)
    parts += [block + _pad(len(block)), _header("OBS")]
    return b"".join(parts)


def _text_column(values, width):
    """Text values (str, None: blank) as ``width`` bytes each, blank-padded."""
    encoded = ["" if v is None else v for v in values] if None in values else values
    if all(map(str.isascii, encoded)):
        data = list(map(bytes.ljust, map(str.encode, encoded), repeat(width), repeat(b" ")))
    else:
        data = [v.encode("utf-8").ljust(width, b" ") for v in encoded]
    if data and max(map(len, data)) > width:
        long = next(v for v in encoded if len(v.encode("utf-8")) > width)
        raise ValueError(f"{long!r}: more than {width} bytes")
    return data


def _number_column(values):
    return [MISSING if v is None else _ibm_cached(float(v)) for v in values]


def encode_columns(variables, columns):
    """Observations, given column-wise (one sequence per variable, all of the same
    length; text: str or None, numbers: float, int or None), as bytes."""
    if len(columns) != len(variables):
        raise ValueError(f"{len(columns)} columns for {len(variables)} variables")
    if len(set(map(len, columns))) > 1:
        raise ValueError("columns of different lengths")
    encoded = [_number_column(column) if variable.numeric else _text_column(column, variable.width)
               for variable, column in zip(variables, columns)]
    return b"".join(chain.from_iterable(zip(*encoded)))


def dataset_chunks(name, label, variables, column_chunks, created=None):
    """A whole transport file (one dataset) as byte chunks: the header, then one
    chunk of observations per item of ``column_chunks`` (a chunk of rows given
    column-wise, see :func:`encode_columns`), consumed once; then the blank
    padding. ``variables``: :class:`Variable` in order, with their widths."""
    yield header(name, label, variables, created)
    total = 0
    for columns in column_chunks:
        data = encode_columns(variables, columns)
        total += len(data)
        if data:
            yield data
    yield _pad(total)


def rows_to_columns(rows, size=1000):
    """Rows (sequences in variable order) as column-wise chunks of ``size`` rows."""
    rows = iter(rows)
    while chunk := list(islice(rows, size)):
        yield list(zip(*chunk))
