"""Descriptive and exact statistics for the report (DOMAIN.md section 8), with SciPy."""

import math
from dataclasses import dataclass

import numpy as np
from django.utils.translation import gettext_lazy as _
from scipy import stats

#: Largest n for which the exact Wilcoxon distribution is used (SciPy's own limit).
EXACT_WILCOXON_MAX_N = 50

#: The tests' and methods' names, as the report shows them (in the reader's language).
WILCOXON = _("Wilcoxon signed-rank")
PAIRED_T = _("paired t-test")
PAIRED_T_LOG = _("paired t-test on log values")
NOT_COMPUTABLE = _("not computable")
EXACT = _("exact")
NORMAL_APPROXIMATION = _("normal approximation")
T_DISTRIBUTION = _("t distribution")


@dataclass(frozen=True)
class Proportion:
    k: int
    n: int
    percent: float | None
    ci_low: float | None
    ci_high: float | None


def proportion(k: int, n: int) -> Proportion:
    """k/n with the exact Clopper-Pearson 95 % confidence interval, in percent."""
    if n == 0:
        return Proportion(k, n, None, None, None)
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
    return Proportion(k, n, 100 * k / n, 100 * ci.low, 100 * ci.high)


@dataclass(frozen=True)
class Summary:
    n: int
    mean: float | None
    sd: float | None
    minimum: float | None
    maximum: float | None
    median: float | None
    q1: float | None
    q3: float | None


def summarise(values) -> Summary:
    """n, mean (SD, n - 1), range, median and quartiles (linear interpolation)."""
    values = [float(v) for v in values if v is not None]
    if not values:
        return Summary(0, None, None, None, None, None, None, None)
    array = np.array(values)
    q1, median, q3 = np.percentile(array, [25, 50, 75])
    return Summary(
        n=len(values), mean=float(array.mean()),
        sd=float(array.std(ddof=1)) if len(values) > 1 else None,
        minimum=float(array.min()), maximum=float(array.max()),
        median=float(median), q1=float(q1), q3=float(q3),
    )


@dataclass(frozen=True)
class PairedTest:
    test: str
    method: str
    n: int
    statistic: float | None
    p_value: float | None
    differences: Summary


def wilcoxon_paired(before, after) -> PairedTest:
    """Wilcoxon signed-rank test of after vs before, exact when n <= 50 with
    no zero and no tied differences (SciPy otherwise uses the normal
    approximation); with the median (IQR) of the differences."""
    pairs = [(float(b), float(a)) for b, a in zip(before, after) if b is not None and a is not None]
    differences = [a - b for b, a in pairs]
    summary = summarise(differences)
    nonzero = [d for d in differences if d != 0]
    if len(nonzero) < 1:
        return PairedTest(WILCOXON, NOT_COMPUTABLE, len(pairs), None, None, summary)
    exact = len(nonzero) <= EXACT_WILCOXON_MAX_N and len(nonzero) == len(differences) and \
        len(set(abs(d) for d in nonzero)) == len(nonzero)
    method = "exact" if exact else "approx"
    result = stats.wilcoxon(differences, method=method)
    return PairedTest(WILCOXON, EXACT if exact else NORMAL_APPROXIMATION, len(pairs),
                      float(result.statistic), float(result.pvalue), summary)


def paired_t(before, after) -> PairedTest:
    """Paired t-test of after vs before on the values themselves (the mean change,
    as the reference publication reports the mean CK fall), with the mean (SD)
    of the differences."""
    pairs = [(float(b), float(a)) for b, a in zip(before, after) if b is not None and a is not None]
    summary = summarise(a - b for b, a in pairs)
    if len(pairs) < 2:
        return PairedTest(PAIRED_T, NOT_COMPUTABLE, len(pairs), None, None, summary)
    result = stats.ttest_rel([a for _, a in pairs], [b for b, _ in pairs])
    return PairedTest(PAIRED_T, T_DISTRIBUTION, len(pairs), float(result.statistic),
                      float(result.pvalue), summary)


def paired_t_log(before, after) -> PairedTest:
    """Paired t-test on log values (shown beside the Wilcoxon test for CK)."""
    pairs = [(float(b), float(a)) for b, a in zip(before, after)
             if b is not None and a is not None and b > 0 and a > 0]
    logs = [math.log(a) - math.log(b) for b, a in pairs]
    summary = summarise(logs)
    if len(pairs) < 2:
        return PairedTest(PAIRED_T_LOG, NOT_COMPUTABLE, len(pairs), None, None, summary)
    result = stats.ttest_rel([math.log(a) for _, a in pairs], [math.log(b) for b, _ in pairs])
    return PairedTest(PAIRED_T_LOG, T_DISTRIBUTION, len(pairs), float(result.statistic),
                      float(result.pvalue), summary)
