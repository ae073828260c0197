"""The report's SQL dose check (reporting/expressions.py) agrees with the Python rule
(visits/rules.py) on every infusion day, edge cases included."""

import random
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db.models import Case, Count, Q, When

from reporting.expressions import dose_within_tolerance, prescribed_daily_dose_tenths
from tests.patients.factories import PatientFactory
from visits import rules
from visits.models import Infusion, TreatmentCycle

pytestmark = pytest.mark.django_db

D = Decimal
#: Heights that are multiples of 12.7 cm make the ideal body weight's division by 2.54 exact,
#: so the adjusted weight can fall exactly on a rounding half (x.x5 kg).
HEIGHTS = [None, D("100.0"), D("101.6"), D("127.0"), D("152.4"), D("160.0"), D("165.1"), D("170.0"),
           D("171.3"), D("177.8"), D("190.5"), D("203.2"), D("250.0")]
WEIGHTS = [D("0.1"), D("1.0"), D("40.0"), D("45.5"), D("50.0"), D("61.4"), D("61.5"), D("64.1"), D("70.0"),
           D("70.3"), D("99.9"), D("120.0"), D("150.5"), D("349.9")]


def python_prescribed(basis, weight, height, sex):
    """The Python rule, as the report applied it per infusion day."""
    if not weight or not (basis == "actual" or height):
        return None
    return rules.prescribed_daily_dose_g(rules.dosing_weight_kg(basis, weight_kg=weight, height_cm=height,
                                                                sex=sex))


def python_within(dose, basis, weight, height, sex):
    prescribed = python_prescribed(basis, weight, height, sex)
    if prescribed is None:
        return False
    return rules.dose_deviation(day=1, given_g=dose, prescribed_g=prescribed) is None


def doses_around(prescribed):
    """Doses exactly at, just inside and just outside the tolerance, and a few others."""
    if prescribed is None or prescribed <= 0:
        return [D("0.1"), D("70.0")]
    p = prescribed
    edge_high = (p * (1 + rules.DOSE_TOLERANCE)).quantize(D("0.1"))
    edge_low = (p * (1 - rules.DOSE_TOLERANCE)).quantize(D("0.1"))
    out = {p, edge_high, edge_high + D("0.1"), edge_high - D("0.1"), edge_low, edge_low - D("0.1"),
           edge_low + D("0.1"), p * 2, D("0.1")}
    return sorted(d for d in out if D("0.1") <= d <= D("9999.9"))


def make_cycles(cases):
    """cases: (sex, basis, weight, height, [doses]) -> cycles of two infusion days each."""
    patients = {sex: PatientFactory(sex=sex, subject_id=f"01-{i + 1:03d}") for i, sex in enumerate("MF")}
    cycles, infusions, numbers = [], [], {"M": 0, "F": 0}
    for sex, basis, weight, height, doses in cases:
        for pair in (doses[i:i + 2] for i in range(0, len(doses), 2)):
            numbers[sex] += 1
            start = date(2025, 3, 17) + timedelta(days=28 * numbers[sex])
            cycle = TreatmentCycle(patient=patients[sex], number=numbers[sex], start_date=start,
                                   weight_kg=weight, height_cm=height, dosing_basis=basis)
            cycles.append(cycle)
            for day, dose in enumerate(pair, start=1):
                infusions.append(Infusion(cycle=cycle, day=day, infusion_date=start + timedelta(days=day - 1),
                                          lot="L", dose_g=dose, volume_ml=dose * 10, max_rate_ml_per_h=150))
    TreatmentCycle.objects.bulk_create(cycles)
    for infusion in infusions:
        infusion.cycle_id = infusion.cycle.pk
    Infusion.objects.bulk_create(infusions)


def assert_sql_matches_python():
    cycles = TreatmentCycle.objects.annotate(p=prescribed_daily_dose_tenths()).values_list(
        "dosing_basis", "weight_kg", "height_cm", "patient__sex", "p")
    checked = 0
    for basis, weight, height, sex, p in cycles:
        expected = python_prescribed(basis, weight, height, sex)
        if expected is not None:
            assert D(p) / 10 == expected, (basis, weight, height, sex, p, expected)
            checked += 1
    rows = Infusion.objects.annotate(within=Case(When(dose_within_tolerance(), then=True), default=False)).values_list(
        "dose_g", "cycle__dosing_basis", "cycle__weight_kg", "cycle__height_cm", "cycle__patient__sex", "within")
    mismatches = [r for r in rows if python_within(*r[:5]) != r[5]]
    assert not mismatches, mismatches[:10]
    # The grouped count the report uses.
    total = Infusion.objects.aggregate(n=Count("pk", filter=dose_within_tolerance()))["n"]
    assert total == sum(python_within(*r[:5]) for r in rows)
    return checked, len(rows)


def test_sql_dose_check_agrees_with_the_python_rule_on_edge_cases():
    cases = []
    for sex in "MF":
        for basis in ("actual", "adjusted"):
            for weight in WEIGHTS:
                for height in HEIGHTS:
                    doses = doses_around(python_prescribed(basis, weight, height, sex))
                    cases.append((sex, basis, weight, height, doses))
    make_cycles(cases)
    checked, days = assert_sql_matches_python()
    assert checked > 500 and days > 3000
    # The cases do reach both sides of every branch: within and not, adjusted above and below
    # the ideal body weight, exactly at the tolerance.
    within = Infusion.objects.filter(dose_within_tolerance()).count()
    assert 0 < within < days


def test_sql_dose_check_agrees_with_the_python_rule_on_random_cycles():
    rng = random.Random(20261125)
    cases = []
    for _ in range(400):
        sex, basis = rng.choice("MF"), rng.choice(("actual", "adjusted"))
        weight = D(rng.randint(1, 3499)) / 10
        height = rng.choice([None, D(rng.randint(1000, 2500)) / 10, D(127 * rng.randint(8, 19)) / 10])
        prescribed = python_prescribed(basis, weight, height, sex)
        doses = [D(rng.randint(1, 9999)) / 10] + (doses_around(prescribed)[:3] if prescribed else [])
        cases.append((sex, basis, weight, height, doses))
    make_cycles(cases)
    assert_sql_matches_python()


def test_exactly_at_the_tolerance_is_within():
    make_cycles([("F", "actual", D("70.0"), None, [D("73.5"), D("73.6")]),
                 ("F", "actual", D("100.0"), None, [D("95.0"), D("94.9")])])
    within = dict(Infusion.objects.annotate(w=Case(When(dose_within_tolerance(), then=True), default=False))
                  .values_list("dose_g", "w"))
    assert within == {D("73.5"): True, D("73.6"): False, D("95.0"): True, D("94.9"): False}
    assert_sql_matches_python()


def test_adjusted_weight_needs_a_height():
    make_cycles([("M", "adjusted", D("120.0"), None, [D("120.0")]),
                 ("M", "adjusted", D("120.0"), D("170.0"), [D("85.0")])])
    # Without a height the day is not counted within; with one, 120 kg at 170 cm doses on
    # IBW 66.0 + 0.4 x (120 - 66.0) = 87.6 kg: 85.0 g is within 5 %.
    assert list(Infusion.objects.filter(dose_within_tolerance()).values_list("dose_g", flat=True)) == [D("85.0")]
    assert Infusion.objects.filter(~Q(dose_within_tolerance())).count() == 1
    assert_sql_matches_python()
