"""Response definitions (DOMAIN.md section 4): pure functions, no Django.

- Biochemical improvement: CK falls by more than 50 % from baseline to the
  last assessment (as in the reference study).
- Clinical improvement: MMT-8 total at the last assessment at least 20 %
  above baseline.
- 2016 ACR/EULAR Total Improvement Score and the IMACS definition of
  improvement, computed only when every core-set measure was collected at
  both time points; "not computable" otherwise, never imputed.
"""

from bisect import bisect_left
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from visits.rules import times_upper_limit  # a result's multiple of its upper limit: stated once

CK_RESPONSE_FALL = Decimal("0.50")  # fall strictly greater than this fraction
MMT_IMPROVEMENT = Decimal("0.20")  # last >= baseline x (1 + this)

D = Decimal
HUNDRED = D(100)


def ck_fall_fraction(baseline, last):
    """(baseline - last) / baseline; None without a positive baseline."""
    if baseline is None or last is None or D(baseline) <= 0:
        return None
    return (D(baseline) - D(last)) / D(baseline)


def ck_responder(baseline, last) -> bool:
    fall = ck_fall_fraction(baseline, last)
    return fall is not None and fall > CK_RESPONSE_FALL


def mmt_improved(baseline, last) -> bool:
    if baseline is None or last is None or baseline <= 0:
        return False
    return D(last) >= D(baseline) * (1 + MMT_IMPROVEMENT)


def percent(value):
    return None if value is None else (D(value) * HUNDRED).quantize(D("0.1"), rounding=ROUND_HALF_UP)


# --- Core set ----------------------------------------------------------------

#: Core-set measures: (key, higher is better).
CORE_SET = (
    ("physician_global", False),
    ("patient_global", False),
    ("mmt", True),
    ("haq", False),
    ("enzyme", False),
    ("extramuscular", False),
)
ENZYMES = ("ck", "aldolase", "ldh", "ast", "alt")


def most_abnormal_enzyme(baseline: dict):
    """The enzyme furthest above its upper limit at baseline (value / ULN).

    ``baseline``: enzyme -> (value, uln)."""
    best, best_ratio = None, None
    for name in ENZYMES:
        value, uln = baseline.get(name, (None, None))
        ratio = times_upper_limit(value, uln)
        if ratio is None:
            continue
        if best_ratio is None or ratio > best_ratio:
            best, best_ratio = name, ratio
    return best


def improvement_percent(baseline, last, higher_is_better):
    """Percent improvement (positive = better). A zero baseline improves by 0 %
    when it stays 0 and worsens otherwise."""
    baseline, last = D(baseline), D(last)
    if baseline == 0:
        if last == 0:
            return D(0)
        return D(-100) if not higher_is_better else D(100)
    change = (last - baseline) / baseline * HUNDRED
    return change if higher_is_better else -change


def core_set_changes(baseline: dict, last: dict):
    """Percent improvement of every core-set measure, or None when one is missing.

    ``baseline``/``last``: key -> value for physician_global, patient_global,
    mmt, haq, extramuscular, and enzymes -> (value, uln)."""
    enzyme = most_abnormal_enzyme(baseline.get("enzymes", {}))
    changes = {}
    for key, higher in CORE_SET:
        if key == "enzyme":
            if enzyme is None:
                return None
            before = baseline["enzymes"][enzyme][0]
            after = last.get("enzymes", {}).get(enzyme, (None, None))[0]
        else:
            before, after = baseline.get(key), last.get(key)
        if before is None or after is None:
            return None
        changes[key] = improvement_percent(before, after, higher)
    return changes


# --- 2016 ACR/EULAR Total Improvement Score ----------------------------------

#: Upper bounds (inclusive) of the improvement bands and points per band.
TIS_BANDS = (D(5), D(15), D(25), D(40))  # worsening to 5 %, >5-15, >15-25, >25-40, >40
TIS_MMT_BANDS = (D(2), D(10), D(20), D(30))  # worsening to 2 %, >2-10, >10-20, >20-30, >30
TIS_POINTS = {
    "physician_global": (D(0), D("7.5"), D(15), D("17.5"), D(20)),
    "patient_global": (D(0), D("2.5"), D(5), D("7.5"), D(10)),
    "haq": (D(0), D(5), D("7.5"), D("7.5"), D(10)),
    "enzyme": (D(0), D("2.5"), D(5), D("7.5"), D("7.5")),
    "extramuscular": (D(0), D("7.5"), D("12.5"), D(15), D(20)),
    "mmt": (D(0), D(10), D(20), D("27.5"), D("32.5")),
}
TIS_MINIMAL, TIS_MODERATE, TIS_MAJOR = D(20), D(40), D(60)


def tis_points(key, improvement):
    bands = TIS_MMT_BANDS if key == "mmt" else TIS_BANDS
    # The number of bounds strictly below the improvement (the bands are ascending).
    return TIS_POINTS[key][bisect_left(bands, improvement)]


@dataclass(frozen=True)
class TIS:
    score: Decimal
    level: str  # none, minimal, moderate, major


def total_improvement_score(changes) -> TIS | None:
    if changes is None:
        return None
    score = sum((tis_points(key, value) for key, value in changes.items()), D(0))
    level = ("major" if score >= TIS_MAJOR else "moderate" if score >= TIS_MODERATE
             else "minimal" if score >= TIS_MINIMAL else "none")
    return TIS(score, level)


# --- IMACS definition of improvement -----------------------------------------

IMACS_IMPROVE = D(20)
IMACS_WORSEN = D(25)
IMACS_MIN_IMPROVED = 3
IMACS_MAX_WORSENED = 2


def imacs_improved(changes) -> bool | None:
    """>= 3 of 6 measures improve by >= 20 %, <= 2 worsen by >= 25 %, and the
    MMT is not one that worsens by >= 25 %. None when not computable."""
    if changes is None:
        return None
    improved = sum(value >= IMACS_IMPROVE for value in changes.values())
    worsened = [key for key, value in changes.items() if value <= -IMACS_WORSEN]
    return improved >= IMACS_MIN_IMPROVED and len(worsened) <= IMACS_MAX_WORSENED and "mmt" not in worsened
