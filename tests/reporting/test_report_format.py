"""The report's number filters: a statistic that could not be computed says so."""

from reporting.templatetags.report_format import num, p_value


def test_nan_is_shown_as_missing_not_as_nan():
    assert num(float("nan"), 2) == "–"
    assert p_value(float("nan")) == "p not computable"
    assert num(None) == "–" and p_value(None) == "p not computable"
    assert num(1.234, 2) == "1.23" and p_value(0.0004) == "p < 0.001" and p_value(0.0261) == "p = 0.026"
