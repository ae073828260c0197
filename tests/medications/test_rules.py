"""Concomitant-medication rules, without a database: flags from the WHO ATC code,
started during the study, the end date or "ongoing", the ATC format."""

from datetime import date
from decimal import Decimal

import pytest

from medications import rules

FIRST = date(2025, 4, 1)


def codes(violations):
    return {(v.field, v.code) for v in violations}


def check(**overrides):
    kwargs = dict(today=date(2025, 12, 1), atc_code="H02AB07", start_date=date(2025, 5, 1), end_date=None,
                  ongoing=True, dose=Decimal("20"), dose_unit="mg", birth_year=1960)
    kwargs.update(overrides)
    return codes(rules.medication_violations(**kwargs))


@pytest.mark.parametrize("code, flags", [
    ("H02AB07", {"is_corticosteroid"}),  # prednisone
    ("H02AB06", {"is_corticosteroid"}),  # prednisolone
    ("H02AB04", {"is_corticosteroid"}),  # methylprednisolone
    ("L04AX03", {"is_immunosuppressant"}),  # methotrexate
    ("L01BA01", {"is_immunosuppressant"}),  # methotrexate (antineoplastic code)
    ("L04AX01", {"is_immunosuppressant"}),  # azathioprine
    ("L04AA06", {"is_immunosuppressant"}),  # mycophenolic acid
    ("L04AD01", {"is_immunosuppressant"}),  # ciclosporin
    ("L04AD02", {"is_immunosuppressant"}),  # tacrolimus
    ("L01FA01", {"is_immunosuppressant"}),  # rituximab
    ("P01BA02", set()),  # hydroxychloroquine: an antimalarial, no flag
    ("C10AA05", {"is_statin"}),  # atorvastatin
    ("G03CA03", {"is_oestrogen"}),  # estradiol
    ("G03AA07", {"is_oestrogen"}),  # levonorgestrel and ethinylestradiol
    ("N02BE01", set()),  # paracetamol
    ("", set()),
])
@pytest.mark.req("URS-PRT-019")
def test_flags_from_the_atc_code(code, flags):
    facts = rules.medication_facts(atc_code=code, start_date=date(2025, 5, 1), first_infusion=FIRST)
    on = {name for name in ("is_corticosteroid", "is_immunosuppressant", "is_statin", "is_oestrogen")
          if getattr(facts, name)}
    assert on == flags


def test_the_atc_names_of_a_known_code_and_its_class():
    facts = rules.medication_facts(atc_code="h02ab07 ", start_date=None, first_infusion=None)
    assert (facts.atc_name, facts.atc_class_code, facts.atc_class_name) == ("prednisone", "H02AB", "Glucocorticoids")
    unknown = rules.medication_facts(atc_code="N02BE01", start_date=None, first_infusion=None)
    assert (unknown.atc_name, unknown.atc_class_code) == ("", "N02BE")


@pytest.mark.parametrize("start, first, during", [
    (date(2025, 4, 1), FIRST, True),  # the day of the first infusion
    (date(2025, 6, 1), FIRST, True),
    (date(2025, 3, 31), FIRST, False),
    (date(2025, 6, 1), None, False),  # no infusion yet
])
@pytest.mark.req("URS-PRT-019")
def test_started_during_the_study_is_on_or_after_the_first_infusion(start, first, during):
    assert rules.medication_facts(atc_code="", start_date=start, first_infusion=first).started_during_study is during


def test_a_consistent_medication_passes():
    assert check() == set()
    assert check(ongoing=False, end_date=date(2025, 6, 1)) == set()
    assert check(atc_code="", dose=None, dose_unit="") == set()


@pytest.mark.parametrize("overrides, expected", [
    ({"ongoing": True, "end_date": date(2025, 6, 1)}, {("end_date", "ongoing_with_end")}),
    ({"ongoing": False, "end_date": None}, {("end_date", "end_or_ongoing")}),
    ({"ongoing": False, "end_date": date(2025, 4, 1)}, {("end_date", "end_before_start")}),
    ({"start_date": date(2026, 1, 1)}, {("start_date", "in_future")}),
    ({"ongoing": False, "end_date": date(2026, 1, 1)}, {("end_date", "in_future")}),
    ({"atc_code": "H02AB"}, {("atc_code", "atc_format")}),
    ({"atc_code": "prednisone"}, {("atc_code", "atc_format")}),
    ({"atc_code": "H2AB07X"}, {("atc_code", "atc_format")}),
    ({"dose_unit": ""}, {("dose_unit", "unit_required")}),
    ({"dose": Decimal("0")}, {("dose", "not_positive")}),
    ({"start_date": date(1950, 1, 1)}, {("start_date", "before_birth")}),
])
@pytest.mark.req("URS-PRT-019")
def test_inconsistent_medications_are_refused_on_the_field(overrides, expected):
    assert check(**overrides) == expected


def test_every_known_drug_has_a_valid_code_and_a_class():
    for drug in rules.KNOWN_DRUGS:
        assert rules.ATC_PATTERN.match(drug.code), drug
        assert rules.atc_class_name(drug.code), drug
