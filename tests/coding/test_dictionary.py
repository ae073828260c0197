"""The shipped CTCAE v5.0 terms (coding/data/ctcae_v5_terms.csv) and their load."""

import csv

import pytest

from coding.models import CTCAE_V5, MeddraTerm
from coding.selectors import term_by_llt_code
from coding.services import CTCAE_FILE, ctcae_load

#: The terms an IVIG myositis study codes most (DOMAIN.md section 6), by CTCAE name.
IVIG_TERMS = {"Infusion related reaction", "Headache", "Fever", "Chills", "Nausea", "Vomiting", "Myalgia",
              "Fatigue", "Rash maculo-papular", "Hypertension", "Hypotension", "Meningismus", "Hemolysis",
              "Thromboembolic event", "Acute kidney injury", "CPK increased", "Myositis"}


def rows():
    with open(CTCAE_FILE, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_every_code_is_8_digits_every_term_has_its_soc_and_nothing_is_duplicated():
    data = rows()
    assert len(data) >= 60
    for row in data:
        assert row["llt_code"].isdigit() and len(row["llt_code"]) == 8, row
        assert row["soc_code"].isdigit() and len(row["soc_code"]) == 8, row
        assert row["soc_name"] and row["ctcae_term"], row
        assert row["source"] in {"A", "B", "A+B"}, row
        assert not row["pt_code"] or (row["pt_code"].isdigit() and len(row["pt_code"]) == 8 and row["pt_name"])
    assert len({row["llt_code"] for row in data}) == len(data)
    assert len({row["ctcae_term"] for row in data}) == len(data)


def test_one_soc_one_code_and_each_soc_has_its_other_specify_term():
    """A CTCAE "<SOC> - Other, specify" term carries its SOC's code: the SOC codes are checked by it."""
    data = rows()
    codes = {}
    for row in data:
        codes.setdefault(row["soc_name"], set()).add(row["soc_code"])
    assert all(len(found) == 1 for found in codes.values()), codes
    others = {row["soc_code"]: row["llt_code"] for row in data if row["ctcae_term"].endswith("- Other, specify")}
    assert {code for (code,) in codes.values()} <= set(others)
    assert all(soc == llt for soc, llt in others.items())
    assert codes["General disorders and administration site conditions"] == {"10018065"}


def test_the_terms_of_an_ivig_study_are_there_with_their_codes():
    by_term = {row["ctcae_term"]: row for row in rows()}
    assert IVIG_TERMS <= set(by_term)
    assert by_term["Infusion related reaction"]["llt_code"] == "10051792"
    assert by_term["Infusion related reaction"]["soc_name"] == "Injury, poisoning and procedural complications"
    assert by_term["Headache"]["llt_code"] == "10019211"


@pytest.mark.django_db
def test_the_migration_loaded_the_terms_and_a_second_load_changes_nothing():
    assert MeddraTerm.objects.ctcae().count() == len(rows())
    assert ctcae_load() == {"created": 0, "updated": 0, "retired": 0}
    headache = term_by_llt_code("10019211")
    assert (headache.source, headache.llt_name, headache.soc_code) == (CTCAE_V5, "Headache", "10029205")
    assert headache.label == "Headache · 10019211 · Nervous system disorders"


@pytest.mark.django_db
def test_a_term_dropped_from_the_file_is_kept_not_current(tmp_path):
    data = rows()
    path = tmp_path / "terms.csv"
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(data[0]))
        writer.writeheader()
        writer.writerows(row for row in data if row["ctcae_term"] != "Myositis")
    assert ctcae_load(path)["retired"] == 1
    myositis = MeddraTerm.objects.get(source=CTCAE_V5, llt_code="10028653")
    assert not myositis.current
    assert term_by_llt_code("10028653") is None
    assert ctcae_load()["updated"] == 1  # back, current again
    assert term_by_llt_code("10028653").current
