import pytest
from scipy import stats

from reporting import statistics


@pytest.mark.parametrize("k, n, pct, low, high", [
    (3, 11, 27.3, 6.0, 61.0), (8, 11, 72.7, 39.0, 94.0), (1, 11, 9.1, 0.2, 41.3)])
@pytest.mark.req("URS-PRT-017")
def test_clopper_pearson_matches_the_study(k, n, pct, low, high):
    p = statistics.proportion(k, n)
    assert (round(p.percent, 1), round(p.ci_low, 1), round(p.ci_high, 1)) == (pct, low, high)


def test_empty_proportion():
    assert statistics.proportion(0, 0).percent is None


def test_summary():
    s = statistics.summarise([1, 2, 3, 4, None])
    assert (s.n, s.mean, s.minimum, s.maximum, s.median) == (4, 2.5, 1, 4, 2.5)
    assert round(s.sd, 4) == 1.291
    assert statistics.summarise([]).mean is None


@pytest.mark.req("URS-PRT-017")
def test_wilcoxon_exact_and_fallback():
    before = [100, 200, 300, 400, 500, 600]
    after = [90, 180, 270, 360, 450, 605]  # distinct differences, no zero
    result = statistics.wilcoxon_paired(before, after)
    assert result.method == "exact" and result.n == 6
    assert result.p_value == pytest.approx(stats.wilcoxon([a - b for b, a in zip(before, after)],
                                                          method="exact").pvalue)
    tied = statistics.wilcoxon_paired([1, 2, 3, 4], [2, 3, 4, 5])  # all differences tie
    assert tied.method == "normal approximation"
    assert statistics.wilcoxon_paired([1, 2], [1, 2]).p_value is None


def test_paired_t_on_logs():
    result = statistics.paired_t_log([1000, 2000, 3000], [500, 900, 1600])
    assert result.p_value is not None and result.statistic < 0
