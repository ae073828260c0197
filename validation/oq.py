"""Operational qualification: the suite run with JUnit XML, and the XML read back.

The requirement ids of a test are its ``requirements`` property (written by the
``validation.plugin`` pytest plugin from the ``@pytest.mark.req`` markers), space-separated.
"""

import os
import shlex
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PASSED, FAILED, ERROR, SKIPPED = "passed", "failed", "error", "skipped"
OUTCOMES = (PASSED, FAILED, ERROR, SKIPPED)


@dataclass(frozen=True)
class TestCase:
    classname: str
    name: str
    time_s: float
    outcome: str
    requirements: tuple = ()
    message: str = ""

    @property
    def node(self):
        return f"{self.classname}::{self.name}" if self.classname else self.name


@dataclass(frozen=True)
class JUnitResult:
    tests: tuple
    #: The totals the <testsuite> element states (tests, failures, errors, skipped, time).
    suite: dict = field(default_factory=dict)

    def count(self, outcome):
        return sum(1 for test in self.tests if test.outcome == outcome)

    @property
    def counts(self):
        return {outcome: self.count(outcome) for outcome in OUTCOMES} | {"total": len(self.tests)}


def parse_junit(path):
    """The test cases of a pytest ``--junitxml`` file (xunit1 or xunit2)."""
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    tests, suite = [], {"tests": 0, "failures": 0, "errors": 0, "skipped": 0, "time": 0.0}
    for element in suites:
        for key in ("tests", "failures", "errors", "skipped"):
            suite[key] += int(element.get(key, 0))
        suite["time"] += float(element.get("time", 0) or 0)
        suite.setdefault("timestamp", element.get("timestamp"))
        suite.setdefault("hostname", element.get("hostname"))
        for case in element.iter("testcase"):
            tests.append(_testcase(case))
    return JUnitResult(tests=tuple(tests), suite=suite)


def _testcase(case):
    outcome, message = PASSED, ""
    for tag, meaning in (("error", ERROR), ("failure", FAILED), ("skipped", SKIPPED)):
        child = case.find(tag)
        if child is not None:
            outcome, message = meaning, child.get("message", "") or (child.text or "").strip()[:300]
            break
    requirements = ()
    for prop in case.iter("property"):
        if prop.get("name") == "requirements":
            requirements += tuple(prop.get("value", "").split())
    return TestCase(classname=case.get("classname", ""), name=case.get("name", ""),
                    time_s=float(case.get("time", 0) or 0), outcome=outcome,
                    requirements=tuple(dict.fromkeys(requirements)), message=message)


@dataclass(frozen=True)
class SuiteRun:
    command: list
    returncode: int
    seconds: float
    junit: Path


def pytest_command(junit, extra_args=None, workers=None, python=sys.executable):
    """``pytest -n 2 --junitxml=<junit>`` plus ``VALIDATE_PYTEST_ARGS`` (default: the whole suite)."""
    extra = shlex.split(os.environ.get("VALIDATE_PYTEST_ARGS", "")) if extra_args is None else list(extra_args)
    workers = workers if workers is not None else os.environ.get("TEST_WORKERS", "2")
    # A test's duration is its call (set-up, e.g. building the test database, is not its own).
    return [python, "-m", "pytest", "-n", str(workers), f"--junitxml={junit}", "-o", "junit_duration_report=call",
            *extra]


def run_suite(out_dir, extra_args=None, workers=None):
    """Run the suite on the database of ``DATABASE_URL`` (pytest-django's test databases are
    made by the same migrations on the same server) and time it."""
    junit = Path(out_dir) / "junit.xml"
    if junit.exists():
        junit.unlink()
    command = pytest_command(junit, extra_args, workers)
    started = time.monotonic()
    result = subprocess.run(command, cwd=ROOT)
    return SuiteRun(command=command, returncode=result.returncode, seconds=time.monotonic() - started,
                    junit=junit)
