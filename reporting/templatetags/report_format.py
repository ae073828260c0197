import math

from django import template

register = template.Library()


def _nan(value):
    try:
        return math.isnan(float(value))
    except (TypeError, ValueError):
        return False


@register.filter
def num(value, digits=1):
    """A number with ``digits`` decimals, or an en dash when missing (or not a number)."""
    if value is None or _nan(value):
        return "–"
    return f"{float(value):.{int(digits)}f}"


@register.filter
def mean_sd(summary, digits=1):
    if summary is None or summary.mean is None:
        return "–"
    sd = f" ({summary.sd:.{digits}f})" if summary.sd is not None else ""
    return f"{summary.mean:.{digits}f}{sd}"


@register.filter
def median_iqr(summary, digits=0):
    if summary is None or summary.median is None:
        return "–"
    return f"{summary.median:.{digits}f} ({summary.q1:.{digits}f}–{summary.q3:.{digits}f})"


@register.filter
def value_range(summary, digits=0):
    if summary is None or summary.minimum is None:
        return "–"
    return f"{summary.minimum:.{digits}f}–{summary.maximum:.{digits}f}"


@register.filter
def proportion(p):
    """k/n = x % (95 % CI lo–hi)."""
    if p is None:
        return "–"
    if p.percent is None:
        return f"{p.k}/{p.n}"
    return f"{p.k}/{p.n} = {p.percent:.1f} % (95 % CI {p.ci_low:.1f}–{p.ci_high:.1f})"


@register.filter
def p_value(p):
    """'p = 0.026' or 'p < 0.001'."""
    if p is None or _nan(p):
        return "p not computable"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"
