"""One source of clinical truth (issue 13): the dose, rate and window rules are
stated once, in ``visits/rules.py``. Everywhere else reads the constants (or the
facts the services stored with them); a second copy of a name or of a value in
the code or the templates fails here."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: Not the application's source: the tests, the virtualenv, the migrations (a data migration
#: freezes what it did), and the load generator (an HTTP client outside the app that types dates
#: as a clinician would; the server judges them).
SKIP_DIRS = {".venv", "tests", "migrations", "node_modules", "loadtest", ".git", "staticfiles"}
#: Generated files (git-ignored): the validation report quotes the requirements, it is no code.
SKIP_PATHS = {Path("validation/out")}
RULES_MODULES = {Path("visits/rules.py")}
NAMES = ("DOSE_G_PER_KG_PER_DAY", "DOSE_TOLERANCE", "MAX_RATE_ML_PER_KG_MIN", "MAX_RATE_AT_RISK_ML_PER_KG_MIN",
         "CYCLE_INTERVAL_DAYS", "CYCLE_WINDOW_DAYS")

#: (what, pattern of the copy, pattern of the line's context): a value counts as a copy of the
#: rule on a line that speaks of what the rule is about.
COPIES = [
    ("a definition of a dosing/schedule constant",
     re.compile(rf"^\s*({'|'.join(NAMES)})\s*(:[^=]*)?=(?!=)"), None),
    ("the rate limit (0.04 / 0.03 mL/kg/min)",
     re.compile(r"(?<![\d.])0\.0[34]0?(?![\d])"), re.compile(r"ml/kg|ml_per_kg|\brate\b|limit", re.I)),
    ("the cycle interval (28 days)",
     re.compile(r"(?<![\d.])28(?![\d.])"), re.compile(r"day|timedelta|interval|planned|cycle|\+", re.I)),
    ("the visit window (± 7 days)",
     re.compile(r"±\s*7(?!\d)|(?<![\d.])7(?![\d.])\s*\)?\s*AS\s+window", re.I), None),
    ("a dosing formula restated (the constants only its rule needs)",
     re.compile(r"\b(IBW_BASE_KG|IBW_KG_PER_INCH_OVER_5_FEET|IBW_BASE_HEIGHT_INCHES|CM_PER_INCH|"
                r"ADJUSTED_WEIGHT_FACTOR|MINUTES_PER_HOUR)\b"), None),
    ("the dose tolerance (5 %)",
     re.compile(r"(?<![\d.])(0\.05|5\s?%)(?![\d])"), re.compile(r"dose|toleran|prescri", re.I)),
]
#: The browser's scripts (static/js/*.js) also must not restate the Devine ideal body weight
#: (50 / 45.5 kg + 2.3 kg per inch, 2.54 cm per inch) or the adjusted weight (IBW + 0.4 x the excess):
#: the record-cycle page asks the server's preview (visits:cycle_preview) instead.
JS_COPIES = [
    ("the Devine IBW / adjusted body weight formula (50 / 45.5 + 2.3 kg/inch, 2.54, 0.4)",
     re.compile(r"(?<![\d.])(50|45\.5|2\.3|2\.54|0\.4)(?![\d.])"),
     re.compile(r"ibw|ideal|adjust|height|weight|inch|sex|\bkg\b|[*/]", re.I)),
]
JS_DIRS = (Path("static/js"),)


def source_files():
    for path in ROOT.rglob("*"):
        relative = path.relative_to(ROOT)
        if path.suffix not in (".py", ".html") or any(part in SKIP_DIRS for part in relative.parts):
            continue
        if any(relative.is_relative_to(skipped) for skipped in SKIP_PATHS):
            continue
        if relative in RULES_MODULES:
            continue
        yield relative, path


def script_files():
    for directory in JS_DIRS:
        for path in sorted((ROOT / directory).glob("*.js")):
            yield path.relative_to(ROOT), path


def copies_in(lines, copies=COPIES):
    found = []
    for number, line in enumerate(lines, 1):
        for what, copy, context in copies:
            if copy.search(line) and (context is None or context.search(line)):
                found.append((number, what, line.strip()))
    return found


@pytest.mark.req("URS-VAL-002")
def test_no_dose_rate_or_window_rule_outside_the_rules_module():
    found = [f"{relative}:{number}: {what}: {line}"
             for relative, path in source_files()
             for number, what, line in copies_in(path.read_text(encoding="utf-8").splitlines())]
    assert not found, "Copies of visits/rules.py (use the constants or the stored facts):\n" + "\n".join(found)


@pytest.mark.req("URS-VAL-002")
def test_no_dosing_formula_in_the_browsers_scripts():
    found = [f"{relative}:{number}: {what}: {line}"
             for relative, path in script_files()
             for number, what, line in copies_in(path.read_text(encoding="utf-8").splitlines(),
                                                 COPIES + JS_COPIES)]
    assert not found, "Dosing rules restated in a script (ask visits:cycle_preview):\n" + "\n".join(found)


def test_the_script_check_finds_the_formula_it_is_meant_to_find():
    """The copy issue 13 found in static/js/cycle_form.js (the live preview), and what is not one."""
    samples = [
        'var ibw = (sex === "M" ? 50 : 45.5) + 2.3 * (height / 2.54 - 60);',
        "return round1(weight <= ibw ? weight : ibw + 0.4 * (weight - ibw));",
        "var tolerance = 0.05; // dose tolerance",
        "if (rate / 60 / weight > 0.04) {",
    ]
    assert [bool(copies_in([line], COPIES + JS_COPIES)) for line in samples] == [True] * len(samples)
    assert not copies_in(["timer = setTimeout(refresh, 200);", "var latest = 0;"], COPIES + JS_COPIES)
    assert Path("static/js/cycle_form.js") in {relative for relative, _ in script_files()}


def test_the_check_finds_the_copies_it_is_meant_to_find():
    """The copies issue 13 found (reporting/expressions.py, bench/sql.py, the export's SQL)."""
    samples = [
        "DOSE_TOLERANCE = Decimal('0.05')",
        "    MAX_RATE_ML_PER_KG_MIN: Decimal = Decimal('0.04')",
        "lag(c.start_date) OVER (PARTITION BY c.patient_id ORDER BY c.number) + 28 AS planned_start,",
        "count(*) FILTER (WHERE abs(i.dose_g - w.prescribed) / w.prescribed <= 0.05) AS within",
        '<span class="badge">rate ≤ 0.03 mL/kg/min</span>',
        "window 28 ± 7 days",
        "ibw = Value(visit_rules.IBW_KG_PER_INCH_OVER_5_FEET) * (height / Value(visit_rules.CM_PER_INCH))",
        "Round(F(rate) / Value(visit_rules.MINUTES_PER_HOUR) / F(weight), RATE_PLACES)",
    ]
    assert [bool(copies_in([line])) for line in samples] == [True] * len(samples)
    assert not copies_in(["p < 0.05", "rng.random() < 0.05", "visit_rules.CYCLE_INTERVAL_DAYS + 3"])


def test_the_check_fails_on_the_copies_issue_13_found():
    """Run on the files as they were before the redesign (git history), the check fails."""
    import subprocess

    def old(path):
        return subprocess.run(["git", "show", f"a1902cc:{path}"], cwd=ROOT, capture_output=True, text=True,
                              check=False).stdout.splitlines()

    if not old("bench/sql.py"):
        import pytest
        pytest.skip("git history not available")
    for path in ("bench/sql.py", "reporting/expressions.py", "exchange/datasets.py",
                 "templates/patients/patient_detail.html"):
        assert copies_in(old(path)), path
    # The record-cycle page's script before the server-side preview.
    script = subprocess.run(["git", "show", "ec0ca43:static/js/cycle_form.js"], cwd=ROOT, capture_output=True,
                            text=True, check=False).stdout.splitlines()
    assert script and copies_in(script, COPIES + JS_COPIES)


def test_the_check_reads_the_application():
    files = {str(relative) for relative, _ in source_files()}
    assert {"exchange/datasets.py", "reporting/selectors.py", "bench/sql.py",
            "templates/visits/timeline.html"} <= files
    assert "visits/rules.py" not in files
