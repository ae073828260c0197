"""The streaming SAS transport (XPT v5) writer and the SDTM export built on it.

The writer must produce what pyreadstat wrote before (the SDTM export used
``pyreadstat.write_xport``): the files are compared byte for byte with
pyreadstat's, the creation time stamps aside, and read back with pyreadstat and
``pandas.read_sas(format="xport")``. The SDTM export no longer holds a domain
in memory, so its expected datasets are rebuilt from the CSV of the same
export, written with pyreadstat as the old code did, and compared.
"""

import csv
import io
import math
import random
import re
import zipfile
from unittest import mock

import pandas as pd
import pyreadstat
import pytest
from django.core.management import call_command

from demo.synthetic import generate_cohort
from patients.models import Patient
from exchange.exports import sdtm, xpt

STAMP = re.compile(rb"\d\d[A-Z]{3}\d\d:\d\d:\d\d:\d\d")


def unstamped(data):
    return STAMP.sub(b"<stamp>", data)


def written(variables, rows, name="T", label="A test dataset"):
    return b"".join(xpt.dataset_chunks(name, label, variables, xpt.rows_to_columns(rows, size=3)))


def pyreadstat_bytes(tmp_path, frame, name="T", label="A test dataset", column_labels=None):
    path = tmp_path / "reference.xpt"
    pyreadstat.write_xport(frame, str(path), file_label=label, table_name=name, column_labels=column_labels,
                           file_format_version=5)
    return path.read_bytes()


def frame_for(variables, rows):
    """What the old SDTM code handed to pyreadstat: float64 and object columns."""
    return pd.DataFrame({
        v.name: pd.Series([row[i] for row in rows], dtype="float64" if v.numeric else object)
        for i, v in enumerate(variables)
    })


def read_both(tmp_path, data):
    path = tmp_path / "read.xpt"
    path.write_bytes(data)
    by_pyreadstat, meta = pyreadstat.read_xport(str(path))
    # pandas raises StopIteration on a dataset without observations (pyreadstat's files too).
    by_pandas = pd.read_sas(str(path), format="xport", encoding="utf-8") if len(by_pyreadstat) else by_pyreadstat
    return by_pyreadstat, by_pandas, meta


def plain(value):
    """A cell as read back: NaN / NA -> None, numbers as float, text as str."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    return float(value) if isinstance(value, (int, float)) else str(value)


# --- IBM floating point -----------------------------------------------------------

@pytest.mark.parametrize("value, expected", [
    (0.0, "0000000000000000"), (1.0, "4110000000000000"), (-1.0, "c110000000000000"),
    (0.1, "401999999999999a"), (100.0, "4264000000000000"), (1 / 3, "4055555555555554"),
    (123456789.123, "4775bcd151f7ced8"), (-2.5e30, "da1f8def8808b024"), (1e-80, "0000000000000000"),
])
def test_ibm_float_known_values(value, expected):
    assert xpt.ibm_float(value).hex() == expected


def test_ibm_float_is_exact_for_doubles_in_range():
    rng = random.Random(7)
    for _ in range(20000):
        value = rng.uniform(-1e6, 1e6) * 10 ** rng.randint(-40, 40)
        data = xpt.ibm_float(value)
        sign = -1 if data[0] & 0x80 else 1
        assert sign * int.from_bytes(data[1:], "big") * 16.0 ** ((data[0] & 0x7F) - 64) / 2**56 == value


def test_missing_and_out_of_range_numbers():
    assert xpt.number_bytes(None) == b"." + bytes(7)
    assert xpt.ibm_float(float("nan")) == b"." + bytes(7)
    with pytest.raises(ValueError):
        xpt.ibm_float(float("inf"))
    with pytest.raises(ValueError):
        xpt.ibm_float(1e77)


# --- The writer against pyreadstat -------------------------------------------------------

VARIABLES = [
    xpt.Variable("USUBJID", "Unique Subject Identifier", width=11),
    xpt.Variable("SEQ", "Sequence Number", numeric=True),
    xpt.Variable("TERM", "Reported Term", width=10),
    xpt.Variable("EMPTY", "Always empty", width=1),
    xpt.Variable("RESULT", "Numeric Result", numeric=True),
]
ROWS = [
    ("IVIG-01-001", 1.0, "Headache", "", 4200.0),
    ("IVIG-01-001", 2.0, "ééé", "", None),  # 6 bytes of UTF-8
    ("IVIG-01-002", 1.0, "", "", -0.125),
    ("IVIG-01-002", 2.0, "Myalgia", "", 1e-3),
    ("IVIG-01-003", 1.0, "Fatigue  x", "", 12.5),
]


def test_same_bytes_as_pyreadstat(tmp_path):
    ours = written(VARIABLES, ROWS)
    reference = pyreadstat_bytes(tmp_path, frame_for(VARIABLES, ROWS), column_labels=[v.label for v in VARIABLES])
    assert unstamped(ours) == unstamped(reference)
    assert len(ours) % 80 == 0


@pytest.mark.parametrize("n", [0, 1, 2, 7, 80, 81])
def test_same_bytes_as_pyreadstat_whatever_the_padding(tmp_path, n):
    rows = [(f"{i % 1000}", float(i) if i % 3 else None) for i in range(n)]
    width = max([1] + [len(text) for text, _ in rows])  # pyreadstat's: the longest value
    variables = [xpt.Variable("A", "a", width=width), xpt.Variable("N", "n", numeric=True)]
    reference = pyreadstat_bytes(tmp_path, frame_for(variables, rows), column_labels=["a", "n"])
    assert unstamped(written(variables, rows)) == unstamped(reference)


@pytest.mark.req("URS-CPY-003")
def test_reads_back_with_pyreadstat_and_pandas(tmp_path):
    by_pyreadstat, by_pandas, meta = read_both(tmp_path, written(VARIABLES, ROWS))
    assert meta.table_name == "T"
    assert meta.file_label == "A test dataset"
    assert meta.column_names == [v.name for v in VARIABLES]
    assert meta.column_labels == [v.label for v in VARIABLES]
    assert meta.variable_storage_width == {v.name: v.width for v in VARIABLES}
    expected = [[None if value in (None, "") else value for value in row] for row in ROWS]
    for frame in (by_pyreadstat, by_pandas):
        assert list(frame.columns) == [v.name for v in VARIABLES]
        got = [[plain(v) for v in row] for row in frame.itertuples(index=False)]
        got = [[None if v == "" else v for v in row] for row in got]
        assert got == expected


def test_an_empty_dataset_reads_back(tmp_path):
    by_pyreadstat, _, meta = read_both(tmp_path, written(VARIABLES, []))
    assert len(by_pyreadstat) == 0
    assert meta.column_names == [v.name for v in VARIABLES]


def test_the_limits_are_refused():
    with pytest.raises(ValueError, match="more than 3 bytes"):
        written([xpt.Variable("A", "a", width=3)], [("abcd",)])
    with pytest.raises(ValueError, match="more than 3 bytes"):
        written([xpt.Variable("A", "a", width=3)], [("éé",)])  # 4 bytes
    with pytest.raises(ValueError):
        xpt.Variable("LONGNAME9", "x")
    with pytest.raises(ValueError):
        xpt.Variable("A B", "x")
    with pytest.raises(ValueError):
        xpt.Variable("A", "L" * 41)
    with pytest.raises(ValueError):
        xpt.Variable("A", "a", width=201)
    with pytest.raises(ValueError):
        xpt.Variable("A", "a", numeric=True, width=4)
    with pytest.raises(ValueError, match="duplicate"):
        written([xpt.Variable("A", "a"), xpt.Variable("A", "b")], [])


# --- The SDTM export: XPT = what pyreadstat made of the same records -------------------------

def export(patients):
    return zipfile.ZipFile(io.BytesIO(b"".join(sdtm.sdtm_zip(patients))))


def csv_rows(archive, domain):
    return list(csv.reader(io.StringIO(archive.read(f"{domain.filename}.csv").decode("utf-8"))))[1:]


def expected_rows(domain, rows):
    """The records as the old code held them (float / None, str), from the CSV."""
    return [tuple((float(text) if text else None) if v.numeric else text for v, text in zip(domain.variables, row))
            for row in rows]


def check_export(archive, tmp_path):
    for domain in sdtm.DOMAINS:
        rows = expected_rows(domain, csv_rows(archive, domain))
        ours = archive.read(f"{domain.filename}.xpt")
        # The old path: a DataFrame of the records through pyreadstat.write_xport.
        reference = pyreadstat_bytes(tmp_path, frame_for(domain.variables, rows), name=domain.code,
                                     label=domain.label, column_labels=[v.label for v in domain.variables])
        assert unstamped(ours) == unstamped(reference), domain.code
        by_pyreadstat, by_pandas, meta = read_both(tmp_path, ours)
        assert meta.table_name == domain.code and meta.file_label == domain.label
        assert meta.column_labels == [v.label for v in domain.variables]
        expected = [[None if v in (None, "") else v for v in row] for row in rows]
        for frame in (by_pyreadstat, by_pandas):
            assert list(frame.columns) == domain.names
            got = [[None if v == "" else v for v in map(plain, row)] for row in frame.itertuples(index=False)]
            assert got == expected, domain.code
    return archive


@pytest.fixture
def demo(db, settings):
    settings.DEBUG = True
    call_command("seed_demo", verbosity=0)


def test_demo_cohort_xpt_as_pyreadstat_wrote_it(demo, tmp_path):
    archive = check_export(export(Patient.objects.all()), tmp_path)
    assert len(csv_rows(archive, sdtm.DOMAINS[0])) == 11


def test_generated_cohort_xpt_as_pyreadstat_wrote_it(db, tmp_path):
    generate_cohort(patients=40, cycles=3, sites=3, seed=11)
    archive = check_export(export(Patient.objects.all()), tmp_path)
    assert len(csv_rows(archive, sdtm.DOMAINS[0])) == 40
    assert len(csv_rows(archive, next(d for d in sdtm.DOMAINS if d.code == "FT"))) > 2 * sdtm.ROWS_PER_CHUNK


def test_small_chunks_give_the_same_files(db, tmp_path):
    """Chunk boundaries (--SEQ, widths, the spool) change nothing."""
    generate_cohort(patients=12, cycles=2, sites=2, seed=3)
    whole = export(Patient.objects.all())
    with mock.patch.object(sdtm, "ROWS_PER_CHUNK", 7):
        chunked = export(Patient.objects.all())
    assert whole.namelist() == chunked.namelist()
    for name in whole.namelist():
        assert unstamped(whole.read(name)) == unstamped(chunked.read(name)), name


def test_a_subject_out_of_the_cohort_order_is_an_error(demo):
    rows = [{"subject_id": "01-002"}, {"subject_id": "01-001"}]
    with pytest.raises(RuntimeError, match="01-001"):
        list(sdtm.with_reference(Patient.objects.all(), iter(rows)))


def test_reference_dates_come_alongside(demo):
    patients = dict(Patient.objects.values_list("subject_id", "first_infusion_date"))
    rows = [{"subject_id": s} for s in sorted(patients) for _ in range(2)]
    pairs = list(sdtm.with_reference(Patient.objects.all(), iter(rows)))
    assert [(row["subject_id"], first) for row, first in pairs] == [(r["subject_id"], patients[r["subject_id"]])
                                                                   for r in rows]
