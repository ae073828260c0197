"""The performance evidence: the last ``make bench`` and ``make loadtest`` results as they
were written (bench/results.md, loadtest/report.md), with their dates. Read, not re-run:
``make validate`` does not repeat them (10-15 minutes each, on an otherwise quiet machine)."""

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench" / "results.md"
LOADTEST = ROOT / "loadtest" / "report.md"
NOT_RE_RUN = "not re-run by make validate"

_DATE = re.compile(r"\b(\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2})?)?(?: ?UTC)?)")


@dataclass(frozen=True)
class Evidence:
    title: str
    command: str
    path: str
    date: str
    date_source: str
    headlines: list = field(default_factory=list)
    #: A table's rows as dicts (bench: each measure with its target), when the file has one.
    rows: list = field(default_factory=list)
    note: str = NOT_RE_RUN


def _shown(path):
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _git_date(path):
    result = subprocess.run(["git", "log", "-1", "--format=%cI", "--", str(path)], cwd=ROOT,
                            capture_output=True, text=True)
    return result.stdout.strip()


def file_date(path, date_line_pattern):
    """(date, source): the first date on the file's own date line, else its last commit."""
    for line in Path(path).read_text().splitlines():
        if re.match(date_line_pattern, line):
            match = _DATE.search(line)
            if match:
                return match.group(1), "the file's own date line"
    committed = _git_date(path)
    return (committed, "the last commit of the file (git log -1)") if committed else ("unknown", "no date line, not committed")


def markdown_table(lines, start):
    """The rows (dicts by header) of the Markdown table whose header is ``lines[start]``."""
    header = [cell.strip() for cell in lines[start].strip().strip("|").split("|")]
    rows = []
    for line in lines[start + 2:]:
        if not line.strip().startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        rows.append(dict(zip(header, cells)))
    return rows


def _unmark(text):
    return text.replace("**", "").replace("`", "")


def bench_evidence(path=BENCH):
    path = Path(path)
    if not path.exists():
        return Evidence("Benchmarks", "make bench", _shown(path), "never run", "", [])
    lines = path.read_text().splitlines()
    date, source = file_date(path, r"^Run \d{4}-")
    headlines = [line.strip() for line in lines if re.match(r"^Run \d{4}-", line)]
    headlines += [line.strip() for line in lines if re.match(r"^\d+ PASS, \d+ MISS\.?$", line.strip())]
    start = next((i for i, line in enumerate(lines) if line.startswith("| measure |")), None)
    rows = [row for row in markdown_table(lines, start) if row.get("target")] if start is not None else []
    return Evidence("Benchmarks", "make bench", _shown(path), date, source,
                    [_unmark(h) for h in headlines], rows)


def loadtest_evidence(path=LOADTEST):
    path = Path(path)
    if not path.exists():
        return Evidence("Load test", "make loadtest", _shown(path), "never run", "", [])
    lines = path.read_text().splitlines()
    date, source = file_date(path, r"^- Date: ")
    headlines = [line.lstrip("- ").strip() for line in lines if line.startswith("- Date: ")]
    headlines += [line.strip() for line in lines if re.match(r"^\d+ requests \(", line.strip())]
    headlines += [line.lstrip("#").strip() for line in lines if line.startswith("## Verdict")]
    verdict_at = next((i for i, line in enumerate(lines) if line.startswith("## Verdict")), None)
    if verdict_at is not None:
        headlines += [line.lstrip("- ").strip() for line in lines[verdict_at + 1:]
                      if line.startswith("- ")][:3]
    start = next((i for i, line in enumerate(lines) if line.startswith("| kind |")), None)
    rows = [row for row in markdown_table(lines, start) if "all" in row.get("kind", "")] if start is not None else []
    return Evidence("Load test", "make loadtest", _shown(path), date, source,
                    [_unmark(h) for h in headlines], [{k: _unmark(v) for k, v in row.items()} for row in rows])


def performance_evidence():
    return [bench_evidence(), loadtest_evidence()]
