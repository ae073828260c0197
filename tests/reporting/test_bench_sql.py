"""bench/sql.py, the report's yardstick query: it reads the stored facts and takes
the response thresholds from reporting.rules (issue 13: no second copy of a rule)."""

import importlib.util
import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection

from exchange import datasets
from reporting import rules, selectors

SQL_PY = Path(__file__).resolve().parents[2] / "bench" / "sql.py"


def load_sql():
    spec = importlib.util.spec_from_file_location("bench_sql", SQL_PY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def all_sql(module):
    return "\n".join([module.REPORT_SQL, *module.COPY_QUERIES.values()])


@pytest.mark.req("URS-VAL-002")
def test_no_derivation_of_age_duration_or_timing_in_sql():
    text = all_sql(load_sql())
    assert not re.search(r"\bage\(|date_part|30\.4375|birth_|min\(i\.infusion_date\)|max\(i\.infusion_date\)", text)
    assert "m.diagnosis_date < " not in text and "m.diagnosis_date >= " not in text
    for column in ("age_at_enrolment", "disease_duration_months", "first_infusion_date", "timing",
                   "certainty", "eular_acr_score", "eular_acr_class", "age_at_onset"):
        assert column in text, column


def test_the_thresholds_come_from_the_report_rules(monkeypatch):
    monkeypatch.setattr(rules, "CK_RESPONSE_FALL", Decimal("0.73"))
    monkeypatch.setattr(rules, "MMT_IMPROVEMENT", Decimal("0.35"))
    report_sql = load_sql().REPORT_SQL
    assert "/ ass.ck_base > 0.73::numeric AS ck_responder" in report_sql
    assert "ass.mmt_base * 1.35::numeric AS mmt_improved" in report_sql


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="the benchmark's SQL is PostgreSQL's")
def test_the_query_gives_the_report_figures(settings):
    settings.DEBUG = True
    call_command("seed_demo", verbosity=0)
    report = selectors.outcome_report(datasets.cohort())
    with connection.cursor() as cursor:
        cursor.execute(load_sql().REPORT_SQL)
        row = dict(zip([c.name for c in cursor.description], cursor.fetchone()))
        for sql in load_sql().COPY_QUERIES.values():
            cursor.execute(sql)  # each runs
    assert row["n"] == report.n
    assert {"before": row["mal_before"], "during": row["mal_during"], "after": row["mal_after"]} == \
        report.baseline["malignancy_timing"]
    assert row["with_malignancy"] == report.baseline["with_malignancy"]
    assert row["age_n"] == report.baseline["age"].n
    assert row["duration_n"] == report.baseline["duration"].n
    assert Decimal(row["age_mean"]).quantize(Decimal("0.01")) == \
        Decimal(report.baseline["age"].mean).quantize(Decimal("0.01"))
    assert Decimal(row["duration_mean"]).quantize(Decimal("0.01")) == \
        Decimal(report.baseline["duration"].mean).quantize(Decimal("0.01"))
    assert row["ck_responders"] == report.outcomes["ck_responders"].k
    assert row["mmt_improved"] == report.outcomes["mmt_improved"].k
