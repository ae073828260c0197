"""The validation report: each requirement traced to the tests that prove it, with the
installation checks, the performance evidence and the environment, in HTML and PDF.

Which rows (the traceability, the verdicts, the counts: plain Python on the requirements
and the JUnit results) are apart from which format (a Django template,
``templates/validation/report.html``, rendered to HTML and, by WeasyPrint, to PDF).

Verdict of a requirement:

- ``failed``: one of its tests failed or errored;
- ``passed``: at least one of its tests passed and none failed (skipped tests are no
  evidence either way);
- ``untested``: no test of it ran (none is marked, or all were skipped).

``make validate`` fails (exit 1) when a high-risk requirement is not ``passed``, when an
installation check failed, or when the suite did not complete (pytest stopped on a usage
or internal error: its evidence is incomplete).
"""

import platform
import socket
import subprocess
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from . import oq

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = "validation/report.html"

PASSED, FAILED, UNTESTED = "passed", "failed", "untested"
VERDICTS = (PASSED, FAILED, UNTESTED)
RISKS = ("high", "medium", "low")
#: pytest exit codes that mean the run did not complete (interrupted, internal error, usage
#: error such as a marker naming an unknown requirement); 0, 1 (tests failed) and 5 (none
#: collected) are judged from the JUnit file.
INCOMPLETE_RUN = (2, 3, 4)


def verdict(tests):
    outcomes = {test.outcome for test in tests}
    if outcomes & {oq.FAILED, oq.ERROR}:
        return FAILED
    if oq.PASSED in outcomes:
        return PASSED
    return UNTESTED


@dataclass(frozen=True)
class TestGroup:
    """One test function (its parametrised cases together)."""
    node: str
    cases: tuple

    @property
    def outcome(self):
        outcomes = [case.outcome for case in self.cases]
        for outcome in (oq.ERROR, oq.FAILED, oq.PASSED, oq.SKIPPED):
            if outcome in outcomes:
                return outcome
        return oq.SKIPPED

    @property
    def counts(self):
        return Counter(case.outcome for case in self.cases)

    @property
    def seconds(self):
        return sum(case.time_s for case in self.cases)

    @property
    def failing(self):
        return [case for case in self.cases if case.outcome in (oq.FAILED, oq.ERROR)]


def group_tests(tests):
    groups = defaultdict(list)
    for test in tests:
        groups[test.node.split("[", 1)[0]].append(test)
    return [TestGroup(node=node, cases=tuple(cases)) for node, cases in groups.items()]


@dataclass(frozen=True)
class Traced:
    requirement: object  # anything with id, title, statement, source, risk
    tests: tuple

    @property
    def verdict(self):
        return verdict(self.tests)

    @property
    def seconds(self):
        return sum(test.time_s for test in self.tests)

    @property
    def groups(self):
        return group_tests(self.tests)

    @property
    def counts(self):
        return Counter(test.outcome for test in self.tests)


def trace(requirements, tests):
    """Each requirement (catalogue order) with the test cases naming it."""
    by_id = defaultdict(list)
    for test in tests:
        for requirement_id in test.requirements:
            by_id[requirement_id].append(test)
    return [Traced(requirement=r, tests=tuple(by_id.get(r.id, ()))) for r in requirements]


def unknown_ids(requirements, tests):
    """Ids the tests name that the catalogue does not hold (the plugin refuses them at
    collection; a JUnit file from elsewhere may still carry some)."""
    known = {r.id for r in requirements}
    return sorted({rid for test in tests for rid in test.requirements} - known)


def summary(traced):
    """Counts by risk and verdict: {risk: {verdict: n, "total": n}}, plus "all"."""
    table = {risk: {v: 0 for v in VERDICTS} | {"total": 0} for risk in (*RISKS, "all")}
    for item in traced:
        risk = item.requirement.risk if item.requirement.risk in RISKS else "low"
        for key in (risk, "all"):
            table[key][item.verdict] += 1
            table[key]["total"] += 1
    return table


@dataclass(frozen=True)
class Decision:
    ok: bool
    reasons: tuple

    @property
    def exit_code(self):
        return 0 if self.ok else 1


def decide(traced, iq_checks=(), suite_returncode=0):
    reasons = [f"{item.requirement.id} (high risk) is {item.verdict}" for item in traced
               if item.requirement.risk == "high" and item.verdict != PASSED]
    reasons += [f"installation check failed: {check.name}" for check in iq_checks if not check.passed]
    if suite_returncode in INCOMPLETE_RUN:
        reasons.append(f"the test suite did not complete (pytest exit status {suite_returncode})")
    return Decision(ok=not reasons, reasons=tuple(reasons))


# --- The environment --------------------------------------------------------------------------

def _git(*args):
    result = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
    return result.stdout.strip() if result.returncode == 0 else ""


def environment(*, database, command, now=None):
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "commit": _git("rev-parse", "HEAD") or "unknown (not a git checkout)",
        "branch": _git("rev-parse", "--abbrev-ref", "HEAD"),
        "dirty": bool(status),
        "changed_files": status.splitlines()[:20],
        "python": f"{platform.python_version()} ({platform.python_implementation()})",
        "database": database,
        "host": f"{socket.gethostname()} ({platform.platform()})",
        "date_utc": (now or datetime.now(timezone.utc)).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "command": command,
    }


# --- The report -------------------------------------------------------------------------------

@dataclass
class Report:
    requirements: list
    junit: oq.JUnitResult
    environment: dict
    iq_checks: list = field(default_factory=list)
    performance: list = field(default_factory=list)
    suite_seconds: float | None = None
    suite_command: str = ""
    suite_returncode: int = 0
    junit_path: str = ""

    def __post_init__(self):
        self.traced = trace(self.requirements, self.junit.tests)
        self.summary = summary(self.traced)
        self.decision = decide(self.traced, self.iq_checks, self.suite_returncode)

    @property
    def attention(self):
        """The requirements that are failed or untested, high risk first."""
        order = {risk: i for i, risk in enumerate(RISKS)}
        return sorted((t for t in self.traced if t.verdict != PASSED),
                      key=lambda t: (order.get(t.requirement.risk, 9), t.verdict != FAILED))

    def context(self):
        tests = self.junit.tests
        traced_tests = [test for test in tests if test.requirements]
        other_failures = [test for test in tests if not test.requirements and test.outcome in (oq.FAILED, oq.ERROR)]
        return {
            "report": self,
            "env": self.environment,
            "summary_rows": [(risk, self.summary[risk]) for risk in (*RISKS, "all")],
            "counts": self.junit.counts,
            "suite": self.junit.suite,
            "traced_count": len(traced_tests),
            "untraced_count": len(tests) - len(traced_tests),
            "other_failures": other_failures,
            "unknown_ids": unknown_ids(self.requirements, tests),
            "iq_failed": [check for check in self.iq_checks if not check.passed],
        }

    def render_html(self):
        from django.template.loader import render_to_string

        return render_to_string(TEMPLATE, self.context())

    def write(self, out_dir):
        """report.html and report.pdf in ``out_dir``; returns their paths."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        html = self.render_html()
        html_path, pdf_path = out_dir / "report.html", out_dir / "report.pdf"
        html_path.write_text(html, encoding="utf-8")
        write_pdf(html, pdf_path)
        return html_path, pdf_path


def write_pdf(html, path):
    from weasyprint import HTML

    HTML(string=html, base_url=str(ROOT)).write_pdf(str(path))
