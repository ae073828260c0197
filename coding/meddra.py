"""Reading a MedDRA release from its ASCII distribution files (``MedAscii/*.asc``):
'$'-separated fields, one record a line, a trailing '$' (MedDRA's "Distribution File
Format" document). Pure: files in, plain rows out; the write is ``coding.services``.

The fields used, by position (0-based):

- ``llt.asc``  llt_code, llt_name, pt_code, ..., [9] llt_currency (Y current / N not)
- ``pt.asc``   pt_code, pt_name, null_field, pt_soc_code (the primary SOC), ...
- ``soc.asc``  soc_code, soc_name, soc_abbrev, ...
- ``mdhier.asc`` pt_code, hlt_code, hlgt_code, soc_code, pt_name, hlt_name, hlgt_name, soc_name,
  soc_abbrev, null_field, pt_soc_code, primary_soc_fg (Y on the PT's primary path)
- ``hlt_pt.asc``, ``hlgt_hlt.asc``, ``soc_hlgt.asc``: the links of the hierarchy, checked
  for consistency with ``mdhier.asc`` (every primary path exists in them).

Each LLT gets its PT and the PT's primary SOC (the ``mdhier.asc`` row with
``primary_soc_fg`` = Y). Any inconsistency is an error with its file and line:
the load is all or nothing.
"""

from dataclasses import dataclass
from pathlib import Path

FILES = ("llt.asc", "pt.asc", "soc.asc", "mdhier.asc", "hlt_pt.asc", "hlgt_hlt.asc", "soc_hlgt.asc")
ENCODING = "utf-8"


class MeddraFormatError(ValueError):
    """A release that cannot be loaded: the message names the file and the line."""


@dataclass(frozen=True)
class MeddraRow:
    llt_code: str
    llt_name: str
    pt_code: str
    pt_name: str
    soc_code: str
    soc_name: str
    soc_abbrev: str
    current: bool


def _records(directory: Path, name: str, *, width: int):
    path = directory / name
    if not path.is_file():
        raise MeddraFormatError(f"{name}: missing from {directory}")
    with path.open(encoding=ENCODING, newline="") as handle:
        for number, line in enumerate(handle, start=1):
            line = line.rstrip("\r\n")
            if not line:
                continue
            fields = line.split("$")
            if len(fields) < width:
                raise MeddraFormatError(f"{name}, line {number}: {len(fields)} fields, expected at least {width}")
            yield number, [field.strip() for field in fields]


def _code(value: str, name: str, number: int) -> str:
    if len(value) != 8 or not value.isdigit():
        raise MeddraFormatError(f"{name}, line {number}: {value!r} is not an 8-digit MedDRA code")
    return value


def read_release(directory) -> list[MeddraRow]:
    """Every LLT of the release in ``directory`` with its PT and primary SOC."""
    directory = Path(directory)
    socs = {}
    for number, f in _records(directory, "soc.asc", width=3):
        socs[_code(f[0], "soc.asc", number)] = (f[1], f[2])
    pts = {}
    for number, f in _records(directory, "pt.asc", width=4):
        pts[_code(f[0], "pt.asc", number)] = (f[1], f[3])
    links = {name: set() for name in ("hlt_pt.asc", "hlgt_hlt.asc", "soc_hlgt.asc")}
    for name in links:
        for number, f in _records(directory, name, width=2):
            links[name].add((_code(f[0], name, number), _code(f[1], name, number)))
    primary = {}
    for number, f in _records(directory, "mdhier.asc", width=12):
        if f[11] != "Y":
            continue
        pt, hlt, hlgt, soc = (_code(value, "mdhier.asc", number) for value in f[:4])
        if pt in primary:
            raise MeddraFormatError(f"mdhier.asc, line {number}: PT {pt} has a second primary SOC")
        if soc not in socs:
            raise MeddraFormatError(f"mdhier.asc, line {number}: SOC {soc} is not in soc.asc")
        if ((hlt, pt) not in links["hlt_pt.asc"] or (hlgt, hlt) not in links["hlgt_hlt.asc"]
                or (soc, hlgt) not in links["soc_hlgt.asc"]):
            raise MeddraFormatError(f"mdhier.asc, line {number}: the path {soc}/{hlgt}/{hlt}/{pt} is not in "
                                    "soc_hlgt.asc, hlgt_hlt.asc and hlt_pt.asc")
        primary[pt] = soc
    for pt, (_name, pt_soc) in pts.items():
        if pt not in primary:
            raise MeddraFormatError(f"pt.asc: PT {pt} has no primary SOC in mdhier.asc")
        if pt_soc and pt_soc != primary[pt]:
            raise MeddraFormatError(f"pt.asc: PT {pt}'s SOC {pt_soc} differs from mdhier.asc's primary {primary[pt]}")
    rows, seen = [], set()
    for number, f in _records(directory, "llt.asc", width=10):
        llt, pt = _code(f[0], "llt.asc", number), _code(f[2], "llt.asc", number)
        if llt in seen:
            raise MeddraFormatError(f"llt.asc, line {number}: LLT {llt} twice")
        if pt not in pts:
            raise MeddraFormatError(f"llt.asc, line {number}: PT {pt} is not in pt.asc")
        if not f[1]:
            raise MeddraFormatError(f"llt.asc, line {number}: LLT {llt} has no name")
        seen.add(llt)
        soc = primary[pt]
        rows.append(MeddraRow(llt_code=llt, llt_name=f[1], pt_code=pt, pt_name=pts[pt][0], soc_code=soc,
                              soc_name=socs[soc][0], soc_abbrev=socs[soc][1], current=f[9] != "N"))
    if not rows:
        raise MeddraFormatError("llt.asc: no term")
    return rows
