"""Dosing rules of ``visits/rules.py`` as SQL expressions, for the report's aggregates.

The report counts the infusion days whose dose is within the tolerance of the
prescription (``visits.rules.dose_deviation`` is None). At 10,000 patients
that is 120,000 infusion days: computed in Python it costs about a second,
as a SQL expression it is one more column of a grouped query.

The rule stays defined once: every constant below is read from
``visits/rules.py`` (dose per kg, tolerance, Devine ideal body weight,
adjusted-weight factor, rounding to 0.1) and the formula is the same one,
rewritten in exact integer arithmetic: each one-decimal value (weight, height,
dose) is an integer number of tenths, and each decimal constant a ratio of
integers, so the comparison with the tolerance and the rounding half-up to
0.1 kg / 0.1 g are exact on PostgreSQL (numeric) and SQLite (whose decimals
are floats) alike. ``tests/reporting/test_report_sql_rules.py`` proves the
expression and the Python rule agree, edge cases included (exactly at the
tolerance, rounding at .x5, weight at the ideal body weight, missing height,
both sexes and bases).
"""

from decimal import Decimal

from django.db.models import BigIntegerField, Case, F, Q, Value, When
from django.db.models.functions import Abs, Cast, Round, Sign
from django.db.models.lookups import Exact, GreaterThan, LessThanOrEqual

from visits import rules as visit_rules

#: Values are handled in units of this (0.1 kg, 0.1 cm, 0.1 g): the rules round to it.
UNITS_PER_ONE = int(1 / visit_rules.ONE_DECIMAL)


def _ratio(value):
    n, d = Decimal(value).as_integer_ratio()
    return n, d


def _int(value):
    return Value(int(value), output_field=BigIntegerField())


def _tenths(field):
    """A one-decimal column as an integer number of tenths (exact: ROUND before the cast)."""
    return Cast(Round(F(field) * Value(UNITS_PER_ONE)), output_field=BigIntegerField())


def _round_half_up(numerator, denominator: int):
    """numerator / denominator (denominator > 0) rounded half away from zero, like
    ``Decimal.quantize(rounding=ROUND_HALF_UP)``, in integers: sign(n) x ((2 |n| + d) div 2d).
    Both databases truncate an integer division, which for non-negative operands is the floor."""
    if denominator == 1:
        return numerator
    magnitude = (Abs(numerator) * _int(2) + _int(denominator)) / _int(2 * denominator)
    return Cast(Sign(numerator), output_field=BigIntegerField()) * magnitude


def _ibw_scaled(sex, height):
    """(Devine ideal body weight in tenths of a kg) x the returned denominator, as an integer
    expression. ibw = base[sex] + k x (height / cm_per_inch - base_inches)."""
    kn, kd = _ratio(visit_rules.IBW_KG_PER_INCH_OVER_5_FEET)
    cn, cd = _ratio(visit_rules.CM_PER_INCH)
    denominator = kd * cn
    base = {}
    for code, kg in visit_rules.IBW_BASE_KG.items():
        scaled = Decimal(kg) * UNITS_PER_ONE * denominator
        assert scaled == int(scaled), "IBW base weight finer than the rules' rounding unit"
        base[code] = int(scaled)
    offset = UNITS_PER_ONE * kn * visit_rules.IBW_BASE_HEIGHT_INCHES * cn
    base_for_sex = Case(*[When(Exact(F(sex), code), then=_int(value)) for code, value in base.items()],
                        default=None, output_field=BigIntegerField())
    return base_for_sex + _int(kn * cd) * height - _int(offset), denominator


def prescribed_daily_dose_tenths(*, weight="weight_kg", height="height_cm", basis="dosing_basis", sex="patient__sex"):
    """``prescribed_daily_dose_g(dosing_weight_kg(...))`` in tenths of a gram, as an integer
    expression (NULL without a weight or, for the adjusted basis, without a height)."""
    w, h = _tenths(weight), _tenths(height)
    ibw, denominator = _ibw_scaled(sex, h)
    fn, fd = _ratio(visit_rules.ADJUSTED_WEIGHT_FACTOR)
    # adjusted = ibw + f (w - ibw) = (ibw (fd - fn) + fn w) / fd, both sides x denominator.
    adjusted = _round_half_up(ibw * _int(fd - fn) + w * _int(fn * denominator), fd * denominator)
    dosing_weight = Case(
        When(Q(Exact(F(basis), visit_rules.DosingBasis.ADJUSTED.value))
             & Q(GreaterThan(w * _int(denominator), ibw)), then=adjusted),
        default=w, output_field=BigIntegerField())
    dn, dd = _ratio(visit_rules.DOSE_G_PER_KG_PER_DAY)
    return _round_half_up(dosing_weight * _int(dn) if dn != 1 else dosing_weight, dd)


def dose_within_tolerance(*, dose="dose_g", weight="cycle__weight_kg", height="cycle__height_cm",
                          basis="cycle__dosing_basis", sex="cycle__patient__sex"):
    """The report's "infusion day within the dose tolerance", as a Q for an Infusion queryset.

    Python (reporting.selectors before this expression, and its test's reference): a day
    counts when the cycle has a weight and, unless dosed on actual weight, a height, and
    ``visits.rules.dose_deviation(given, prescribed)`` is None: no positive prescription,
    or |given - prescribed| <= tolerance x prescribed (exactly at the tolerance is within).
    """
    given, prescribed = _tenths(dose), prescribed_daily_dose_tenths(
        weight=weight, height=height, basis=basis, sex=sex)
    tn, td = _ratio(visit_rules.DOSE_TOLERANCE)
    has_weight = Q(**{f"{weight}__isnull": False}) & ~Q(**{weight: 0})
    has_height = Q(**{f"{height}__isnull": False}) & ~Q(**{height: 0})
    computable = has_weight & (Q(**{basis: visit_rules.DosingBasis.ACTUAL.value}) | has_height)
    within = (Q(LessThanOrEqual(prescribed, _int(0)))
              | Q(LessThanOrEqual(Abs(given - prescribed) * _int(td), prescribed * _int(tn))))
    return computable & within
