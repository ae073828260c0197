"""Numbers of the outcome report in the reader's language: the decimals of the active
language (a comma in French), no thousands separator (clinical values), the same
rounding in every language (Python's format, then the separator)."""

import math

from django import template
from django.utils import formats
from django.utils.translation import gettext as _
from django.utils.translation import pgettext_lazy

register = template.Library()

#: The 2016 ACR/EULAR Total Improvement Score's levels (``reporting.rules.TIS.level``), as shown.
TIS_LEVELS = {"none": pgettext_lazy("improvement", "none"), "minimal": pgettext_lazy("improvement", "minimal"),
              "moderate": pgettext_lazy("improvement", "moderate"), "major": pgettext_lazy("improvement", "major")}


def _nan(value):
    try:
        return math.isnan(float(value))
    except (TypeError, ValueError):
        return False


def _fixed(value, digits, sign=""):
    """``value`` with ``digits`` decimals and the active language's decimal separator."""
    text = f"{float(value):{sign}.{int(digits)}f}"
    separator = formats.get_format("DECIMAL_SEPARATOR")
    return text.replace(".", separator) if separator != "." else text


@register.filter
def num(value, digits=1):
    """A number with ``digits`` decimals, or an en dash when missing (or not a number)."""
    if value is None or _nan(value):
        return "–"
    return _fixed(value, digits)


@register.filter
def signed(value, digits=1):
    """A change with its sign ("+12.5", "-40.0"; "+12,5" in French), or an en dash."""
    if value is None or _nan(value):
        return "–"
    return _fixed(value, digits, "+")


@register.filter
def mean_sd(summary, digits=1):
    if summary is None or summary.mean is None:
        return "–"
    sd = f" ({_fixed(summary.sd, digits)})" if summary.sd is not None else ""
    return f"{_fixed(summary.mean, digits)}{sd}"


@register.filter
def median_iqr(summary, digits=0):
    if summary is None or summary.median is None:
        return "–"
    return f"{_fixed(summary.median, digits)} ({_fixed(summary.q1, digits)}–{_fixed(summary.q3, digits)})"


@register.filter
def value_range(summary, digits=0):
    if summary is None or summary.minimum is None:
        return "–"
    return f"{_fixed(summary.minimum, digits)}–{_fixed(summary.maximum, digits)}"


@register.filter
def proportion(p):
    """k/n = x % (95 % CI lo–hi)."""
    if p is None:
        return "–"
    if p.percent is None:
        return f"{p.k}/{p.n}"
    return _("%(k)s/%(n)s = %(percent)s %% (95 %% CI %(low)s–%(high)s)") % {
        "k": p.k, "n": p.n, "percent": _fixed(p.percent, 1), "low": _fixed(p.ci_low, 1),
        "high": _fixed(p.ci_high, 1)}


@register.filter
def p_value(p):
    """'p = 0.026' or 'p < 0.001' ('p = 0,026' in French)."""
    if p is None or _nan(p):
        return _("p not computable")
    return f"p < {_fixed(0.001, 3)}" if p < 0.001 else f"p = {_fixed(p, 3)}"


@register.filter
def tis_level(level):
    """A Total Improvement Score level (a code) in the reader's language."""
    return TIS_LEVELS.get(level, level)
