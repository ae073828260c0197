"""The validation report (issue 18): a synthetic JUnit file and a synthetic catalogue give the
verdicts, the counts, the exit status, the HTML and a PDF that pypdf reads back with the
same figures as the JUnit file. No suite is run here."""

import re
from datetime import datetime, timezone

import pytest
from pypdf import PdfReader

from validation import oq, performance
from validation.catalogue import Requirement
from validation.iq import FAILED, PASSED, WARNING, Check
from validation.report import Report, decide, environment, summary, trace, unknown_ids


REQUIREMENTS = [
    Requirement("URS-AUD-001", "Audit trail", "Every change is recorded.", "21 CFR 11.10(e)", "high"),
    Requirement("URS-SIG-001", "Signature manifestation", "A signature shows name, time, meaning.",
                "21 CFR 11.50", "high"),
    Requirement("URS-PRO-001", "Dose 1 g/kg", "1 g/kg per day.", "Protocol", "high"),
    Requirement("URS-ACC-001", "Access limited", "Only authorised users.", "21 CFR 11.10(d)", "medium"),
    Requirement("URS-DOC-001", "Documentation control", "Documents are versioned.", "21 CFR 11.10(k)", "low"),
    Requirement("URS-BCP-001", "Business continuity", "Backups exist.", "Annex 11 §16", "low"),
]

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites name="pytest tests"><testsuite name="pytest" errors="1" failures="2" skipped="2" tests="9"
  time="12.5" timestamp="2026-12-03T08:00:00" hostname="ci">
 <testcase classname="tests.core.test_history" name="test_change_recorded" time="0.50">
  <properties><property name="requirements" value="URS-AUD-001 URS-ACC-001"/></properties></testcase>
 <testcase classname="tests.core.test_history" name="test_void_recorded" time="0.25">
  <properties><property name="requirements" value="URS-AUD-001"/></properties>
  <skipped type="pytest.skip" message="PostgreSQL only">skipped</skipped></testcase>
 <testcase classname="tests.review.test_signature" name="test_manifestation[en]" time="1.00">
  <properties><property name="requirements" value="URS-SIG-001"/></properties></testcase>
 <testcase classname="tests.review.test_signature" name="test_manifestation[fr]" time="1.50">
  <properties><property name="requirements" value="URS-SIG-001"/></properties>
  <failure message="AssertionError: no printed name">trace</failure></testcase>
 <testcase classname="tests.visits.test_rules" name="test_dose" time="0.01">
  <properties><property name="requirements" value="URS-PRO-001"/></properties>
  <skipped type="pytest.skip" message="not here">skipped</skipped></testcase>
 <testcase classname="tests.accounts.test_roles" name="test_denied" time="0.30">
  <properties><property name="requirements" value="URS-ACC-001"/></properties>
  <error message="fixture failed">trace</error></testcase>
 <testcase classname="tests.core.test_misc" name="test_untraced_pass" time="0.10"/>
 <testcase classname="tests.core.test_misc" name="test_untraced_fail" time="0.20">
  <failure message="boom">trace</failure></testcase>
 <testcase classname="tests.core.test_misc" name="test_stray" time="0.05">
  <properties><property name="requirements" value="URS-XXX-999"/></properties></testcase>
</testsuite></testsuites>
"""


@pytest.fixture
def junit(tmp_path):
    path = tmp_path / "junit.xml"
    path.write_text(JUNIT)
    return oq.parse_junit(path)


def _report(junit, **kwargs):
    env = environment(database="SQLite 3 (test)", command="python -m validation",
                      now=datetime(2026, 12, 3, 8, 0, tzinfo=timezone.utc))
    return Report(requirements=REQUIREMENTS, junit=junit, environment=env, junit_path="validation/out/junit.xml",
                  suite_command="pytest -n 2", suite_seconds=12.5, **kwargs)


def test_the_junit_file_is_read_with_outcomes_and_requirements(junit):
    assert junit.counts == {"passed": 4, "failed": 2, "error": 1, "skipped": 2, "total": 9}
    assert junit.suite["tests"] == 9 and junit.suite["failures"] == 2 and junit.suite["errors"] == 1
    first = junit.tests[0]
    assert (first.node, first.time_s, first.requirements) == (
        "tests.core.test_history::test_change_recorded", 0.5, ("URS-AUD-001", "URS-ACC-001"))
    assert junit.tests[3].message == "AssertionError: no printed name"
    assert junit.tests[6].requirements == ()


def test_verdicts(junit):
    verdicts = {item.requirement.id: item.verdict for item in trace(REQUIREMENTS, junit.tests)}
    assert verdicts == {
        "URS-AUD-001": "passed",    # one passed, one skipped: the skip is no evidence either way
        "URS-SIG-001": "failed",    # one parametrised case failed
        "URS-PRO-001": "untested",  # its only test was skipped
        "URS-ACC-001": "failed",    # an error counts as a failure
        "URS-DOC-001": "untested",  # no test at all
        "URS-BCP-001": "untested",
    }
    assert unknown_ids(REQUIREMENTS, junit.tests) == ["URS-XXX-999"]


def test_summary_counts_by_risk_and_verdict(junit):
    table = summary(trace(REQUIREMENTS, junit.tests))
    assert table["high"] == {"passed": 1, "failed": 1, "untested": 1, "total": 3}
    assert table["medium"] == {"passed": 0, "failed": 1, "untested": 0, "total": 1}
    assert table["low"] == {"passed": 0, "failed": 0, "untested": 2, "total": 2}
    assert table["all"] == {"passed": 1, "failed": 2, "untested": 3, "total": 6}


def test_parametrised_cases_are_grouped_with_their_durations(junit):
    signature = trace(REQUIREMENTS, junit.tests)[1]
    (group,) = signature.groups
    assert group.node == "tests.review.test_signature::test_manifestation"
    assert group.outcome == "failed" and len(group.cases) == 2 and group.seconds == 2.5
    assert [case.name for case in group.failing] == ["test_manifestation[fr]"]


def _case(outcome, *ids):
    return oq.TestCase(classname="t", name=f"test_{outcome}", time_s=0.1, outcome=outcome, requirements=ids)


@pytest.mark.parametrize("tests,code", [
    ([_case("passed", "URS-AUD-001")], 0),                                   # high passed, low untested: 0
    ([_case("failed", "URS-AUD-001")], 1),                                   # high failed
    ([], 1),                                                                 # high untested
    ([_case("skipped", "URS-AUD-001")], 1),                                  # high only skipped: untested
    ([_case("passed", "URS-AUD-001"), _case("failed", "URS-ACC-001")], 0),  # a medium failure alone: 0
])
def test_exit_status_follows_the_high_risk_requirements(tests, code):
    catalogue = [REQUIREMENTS[0], REQUIREMENTS[3], REQUIREMENTS[4]]
    assert decide(trace(catalogue, tests)).exit_code == code


def test_a_failed_installation_check_or_an_incomplete_run_fails_the_validation():
    traced = trace([REQUIREMENTS[0]], [_case("passed", "URS-AUD-001")])
    warned = Check("Database vendor and version", "PostgreSQL 16", "PostgreSQL 15.2", WARNING)
    assert decide(traced, [warned]).exit_code == 0
    broken = Check("Packages pinned in requirements.txt", "1 package", "0 of 1", FAILED, "Django: pinned 1.0")
    decision = decide(traced, [warned, broken])
    assert decision.exit_code == 1
    assert decision.reasons == ("installation check failed: Packages pinned in requirements.txt",)
    assert decide(traced, suite_returncode=4).exit_code == 1  # pytest usage error: no evidence
    assert decide(traced, suite_returncode=1).exit_code == 0  # a test failed: judged by the verdicts


def _text(pdf_path):
    reader = PdfReader(pdf_path)
    return reader, re.sub(r"\s+", " ", " ".join(page.extract_text() for page in reader.pages))


def test_html_and_pdf_show_the_same_figures_as_the_junit_file(junit, tmp_path):
    checks = [Check("Python version", ">= 3.11", "3.11.7", PASSED),
              Check("Migrations applied", "none pending", "140 applied, 2 pending", FAILED, "visits.0099_x")]
    report = _report(junit, iq_checks=checks, performance=performance.performance_evidence())
    html_path, pdf_path = report.write(tmp_path)

    html = html_path.read_text()
    assert "<link" not in html and "<script" not in html and "http" not in html.split("<body>")[0]
    assert 'id="URS-SIG-001"' in html and "AssertionError: no printed name" in html

    reader, text = _text(pdf_path)
    assert len(reader.pages) >= 3
    assert f"Page 1 of {len(reader.pages)}" in text
    # The test-case row, read back: total, passed, failed, errors, skipped as in the JUnit file.
    counts = junit.counts
    row = f"{counts['total']} {counts['passed']} {counts['failed']} {counts['error']} {counts['skipped']}"
    assert re.search(rf"Time \(s\) {row} 7 2 12\.5", text), text[:1500]
    # The summary table: high 1 passed, 1 failed, 1 untested of 3; all 1 / 2 / 3 of 6.
    assert re.search(r"High 1 1 1 3 Medium 0 1 0 1 Low 0 0 2 2 All requirements 1 2 3 6", text)
    assert "NOT accepted" in text and "URS-SIG-001 (high risk) is failed" in text
    assert "installation check failed: Migrations applied" in text
    for requirement in REQUIREMENTS:
        assert requirement.id in text
    assert "URS-XXX-999" in text  # an id the catalogue lacks is shown
    assert "not re-run by make validate" in text
    assert "Reviewed by (quality assurance)" in text and "Signature" in text


def test_a_clean_run_says_so(tmp_path):
    tests = (_case("passed", "URS-AUD-001"),)
    report = Report(requirements=[REQUIREMENTS[0], REQUIREMENTS[4]], junit=oq.JUnitResult(tests=tests),
                    environment=environment(database="x", command="make validate"))
    assert report.decision.ok
    html = report.render_html()
    assert "every high-risk requirement has passing evidence" in html
    assert [t.requirement.id for t in report.attention] == ["URS-DOC-001"]


def test_performance_evidence_reads_the_results_and_their_dates(tmp_path):
    bench = tmp_path / "results.md"
    bench.write_text("# Benchmarks\n\nRun 2026-11-25 16:07 UTC on 2 CPUs.\n\n"
                     "| measure | figure | target | result |\n| --- | --- | --- | --- |\n"
                     "| /healthz/ req/s | 698 |  |  |\n| patient list / healthz | 0.297 | >= 0.5 | MISS |\n\n"
                     "1 PASS, 1 MISS.\n")
    evidence = performance.bench_evidence(bench)
    assert evidence.date == "2026-11-25 16:07 UTC" and evidence.date_source == "the file's own date line"
    assert evidence.headlines == ["Run 2026-11-25 16:07 UTC on 2 CPUs.", "1 PASS, 1 MISS."]
    assert evidence.rows == [{"measure": "patient list / healthz", "figure": "0.297", "target": ">= 0.5",
                              "result": "MISS"}]
    assert evidence.note == "not re-run by make validate"
    # Without a date line: the file's last commit (the repository's own report here).
    undated = tmp_path / "report.md"
    undated.write_text("# Load test\n\n## Verdict: PASS\n")
    assert performance.loadtest_evidence(undated).date_source.startswith(("the last commit", "no date line"))
    assert performance.loadtest_evidence(undated).headlines == ["Verdict: PASS"]
    assert performance.loadtest_evidence().date.startswith("20")
