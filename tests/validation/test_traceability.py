"""The validation pack's own checks: the catalogue loads and is valid, every
requirement is proved by at least one test, no marker names an unknown one, and
the plugin stops a run that names one (issue 18)."""

import subprocess
import sys
from pathlib import Path

import pytest

from validation import trace
from validation.catalogue import CatalogueError, Requirement, load_requirements

ROOT = Path(__file__).resolve().parents[2]

ENTRY = """  - id: {id}
    title: A requirement
    statement: The system does one testable thing.
    source: 21 CFR 11.10(e)
    risk: {risk}
"""


def catalogue(tmp_path, *entries):
    path = tmp_path / "requirements.yaml"
    path.write_text("requirements:\n" + "".join(entries), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def requirements():
    return load_requirements()


@pytest.fixture(scope="module")
def found():
    return trace.scan()


@pytest.mark.req("URS-VAL-001")
def test_every_requirement_has_a_test(requirements, found):
    missing = trace.untested(requirements, found)
    assert not missing, "Requirements no test proves (add @pytest.mark.req(...)): " + ", ".join(missing)


@pytest.mark.req("URS-VAL-001")
def test_no_marker_names_an_unknown_requirement(requirements, found):
    strays = trace.unknown(requirements, found)
    assert not strays, "Markers naming no requirement of validation/requirements.yaml: " + ", ".join(
        f"{i} ({', '.join(found[i])})" for i in strays)


def test_the_catalogue_loads_with_unique_ids_and_known_risks(requirements):
    assert len(requirements) >= 60
    assert len({r.id for r in requirements}) == len(requirements)
    assert {r.risk for r in requirements} == {"high", "medium", "low"}
    assert requirements[0] == Requirement(
        id="URS-VAL-001", title="Requirements traced to tests", statement=requirements[0].statement,
        source=requirements[0].source, risk="high")
    assert requirements[0].area == "VAL"
    # the clauses issue 18 asks for are covered
    sources = " ".join(r.source for r in requirements)
    for clause in ("11.10(a)", "11.10(b)", "11.10(c)", "11.10(d)", "11.10(e)", "11.10(f)", "11.10(g)",
                   "11.10(h)", "11.10(k)", "11.50", "11.70", "11.100", "11.200", "11.300", "Annex 11 §5",
                   "Annex 11 §6", "Annex 11 §9", "Annex 11 §10", "Annex 11 §12", "Annex 11 §13",
                   "Annex 11 §14", "Annex 11 §16", "Protocol"):
        assert clause in sources, clause


@pytest.mark.parametrize("entries, message", [
    pytest.param([ENTRY.format(id="URS-AUD-001", risk="high"), ENTRY.format(id="URS-AUD-001", risk="low")],
                 "entry 2 (URS-AUD-001): duplicate id, already used by entry 1", id="duplicate"),
    pytest.param([ENTRY.format(id="URS-AUD-001", risk="critical")],
                 "entry 1 (URS-AUD-001): risk 'critical' is not one of high, medium, low", id="bad risk"),
    pytest.param([ENTRY.format(id="URS-AUD-001", risk="low"), ENTRY.format(id="REQ-1", risk="low")],
                 "entry 2 (REQ-1): id 'REQ-1' does not match", id="bad id"),
    pytest.param([ENTRY.format(id="URS-AUD-001", risk="low").replace("    source: 21 CFR 11.10(e)\n", "")],
                 "entry 1 (URS-AUD-001): missing source", id="missing field"),
    pytest.param([ENTRY.format(id="URS-AUD-001", risk="low") + "    owner: QA\n"],
                 "entry 1 (URS-AUD-001): unknown key owner", id="unknown key"),
])
def test_a_bad_catalogue_is_refused_naming_the_entry(tmp_path, entries, message):
    with pytest.raises(CatalogueError) as refused:
        load_requirements(catalogue(tmp_path, *entries))
    assert message in str(refused.value)


def test_a_good_small_catalogue_loads_in_file_order(tmp_path):
    path = catalogue(tmp_path, ENTRY.format(id="URS-SIG-002", risk="high"),
                     ENTRY.format(id="URS-AUD-001", risk="low"))
    loaded = load_requirements(path)
    assert [(r.id, r.area, r.risk) for r in loaded] == [("URS-SIG-002", "SIG", "high"), ("URS-AUD-001", "AUD", "low")]


MARKED = '''import pytest

pytestmark = [pytest.mark.req("URS-AUD-001")]


@pytest.mark.req("URS-SIG-001", "URS-SIG-002")
def test_signature():
    pass


@pytest.mark.req("URS-OPS-001")
class TestWorkflow:
    def test_order(self):
        pass


@pytest.mark.parametrize("x", [pytest.param(1, marks=pytest.mark.req("URS-CHK-001")), 2])
def test_ranges(x):
    pass


def test_unmarked():
    pass
'''


def test_the_scan_finds_every_kind_of_marker(tmp_path):
    path = tmp_path / "tests" / "test_marked.py"
    path.parent.mkdir()
    path.write_text(MARKED)
    found = trace.scan(tmp_path / "tests")
    name = "tests/test_marked.py::"
    assert found == {
        "URS-AUD-001": [name + t for t in ("test_signature", "TestWorkflow::test_order", "test_ranges",
                                           "test_unmarked")],
        "URS-SIG-001": [name + "test_signature"], "URS-SIG-002": [name + "test_signature"],
        "URS-OPS-001": [name + "TestWorkflow::test_order"], "URS-CHK-001": [name + "test_ranges"],
    }


@pytest.mark.req("URS-VAL-001")
def test_removing_a_marker_leaves_its_requirement_untested(tmp_path, requirements, found):
    """A copy of a marked test file without one marker: the scan reports that requirement
    untested (here URS-PRO-005, proved by one file only)."""
    source_file = ROOT / "tests" / "oversight" / "test_app_db_role.py"
    assert {t.split("::")[0] for t in found["URS-PRO-005"]} == {"tests/oversight/test_app_db_role.py"}
    copy = tmp_path / "tests" / "oversight" / "test_app_db_role.py"
    copy.parent.mkdir(parents=True)
    copy.write_text(source_file.read_text(encoding="utf-8").replace('@pytest.mark.req("URS-PRO-005")\n', ""))
    others = {i: [t for t in tests if not t.startswith("tests/oversight/test_app_db_role.py")]
              for i, tests in found.items()}
    after = {i: others.get(i, []) + trace.scan(tmp_path / "tests").get(i, []) for i in set(others)}
    assert trace.untested(requirements, found) == []
    assert trace.untested(requirements, after) == ["URS-PRO-005"]


def run_pytest(tmp_path, test_source, *options):
    (tmp_path / "test_stray.py").write_text(test_source)
    (tmp_path / "pytest.ini").write_text("[pytest]\naddopts = --strict-markers\n")
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "validation.plugin", "-p", "no:django", "-p", "no:cacheprovider",
         "-p", "no:randomly", *(options or ("-p", "no:xdist")),
         "-c", str(tmp_path / "pytest.ini"), "--rootdir", str(tmp_path),
         f"--junitxml={tmp_path / 'junit.xml'}", str(tmp_path / "test_stray.py")],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})


@pytest.mark.req("URS-VAL-001")
@pytest.mark.parametrize("options", [(), ("-n", "2")], ids=["one process", "xdist"])
def test_the_plugin_refuses_an_unknown_id_at_collection(tmp_path, options):
    result = run_pytest(tmp_path, 'import pytest\n\n\n@pytest.mark.req("URS-AUD-001", "URS-XYZ-999")\n'
                                  'def test_stray():\n    pass\n', *options)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "URS-XYZ-999" in output and "test_stray.py::test_stray" in output, output
    assert "1 passed" not in output


def test_the_plugin_writes_the_ids_into_the_junit_file(tmp_path):
    result = run_pytest(tmp_path, 'import pytest\n\n\n@pytest.mark.req("URS-SIG-002", "URS-AUD-001")\n'
                                  'def test_marked():\n    pass\n\n\ndef test_plain():\n    pass\n')
    assert result.returncode == 0, result.stdout + result.stderr
    junit = (tmp_path / "junit.xml").read_text()
    # catalogue order, on the marked test only
    assert junit.count('<property name="requirements" value="URS-AUD-001 URS-SIG-002" />') == 1, junit
    assert junit.index("test_marked") < junit.index('name="requirements"') < junit.index("test_plain")
