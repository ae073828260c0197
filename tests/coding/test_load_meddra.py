"""``manage.py load_meddra DIR --version V``: a licensed MedDRA release from its ASCII
files, here a tiny synthetic one (tests/coding/synthetic_meddra: made-up codes)."""

import shutil
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from coding.meddra import MeddraFormatError, read_release
from coding.models import CTCAE_V5, MeddraTerm
from coding.selectors import term_by_llt_code

pytestmark = pytest.mark.django_db

RELEASE = Path(__file__).resolve().parent / "synthetic_meddra"


def load(directory=RELEASE, version="99.0"):
    out = StringIO()
    call_command("load_meddra", str(directory), "--version", version, stdout=out)
    return out.getvalue()


def snapshot():
    return sorted(MeddraTerm.objects.values_list("source", "llt_code", "llt_name", "pt_code", "pt_name",
                                                 "soc_code", "soc_abbrev", "current"))


def test_each_llt_gets_its_pt_and_the_pts_primary_soc():
    output = load()
    assert "4 terms added" in output
    terms = {t.llt_code: t for t in MeddraTerm.objects.filter(source="MedDRA 99.0")}
    ache = terms["99000401"]
    assert (ache.llt_name, ache.pt_code, ache.pt_name) == ("Synthetic ache LLT", "99000301", "Synthetic pain PT")
    # The pain PT is under both SOCs; mdhier.asc's primary_soc_fg = Y names the first.
    assert (ache.soc_code, ache.soc_name, ache.soc_abbrev) == ("99000001", "Synthetic disorders SOC", "SynA")
    assert terms["99000302"].soc_code == "99000002"
    assert not terms["99000402"].current  # llt_currency N
    assert term_by_llt_code("99000402") is None


def test_a_second_load_is_idempotent():
    load()
    before = snapshot()
    assert "0 terms added, 0 updated, 0 no longer current" in load()
    assert snapshot() == before


def test_a_broken_release_loads_nothing(tmp_path):
    load()
    before = snapshot()
    broken = tmp_path / "release"
    shutil.copytree(RELEASE, broken)
    with open(broken / "llt.asc", "a", encoding="utf-8") as handle:
        handle.write("99000499$Synthetic orphan LLT$99000999$$$$$$$Y$$\n")  # a PT not in pt.asc
    with pytest.raises(CommandError, match="llt.asc, line 5: PT 99000999 is not in pt.asc"):
        load(broken, version="99.1")
    (broken / "mdhier.asc").unlink()
    with pytest.raises(CommandError, match="mdhier.asc: missing"):
        load(broken, version="99.1")
    assert snapshot() == before
    assert not MeddraTerm.objects.filter(source="MedDRA 99.1").exists()


@pytest.mark.parametrize("name, text, message", [
    ("mdhier.asc", "99000302$99000201$99000101$99000001$x$x$x$x$x$$99000002$Y$\n", "second primary SOC"),
    ("llt.asc", "9900040$Short code$99000301$$$$$$$Y$$\n", "not an 8-digit MedDRA code"),
    ("llt.asc", "99000401$Synthetic ache LLT again$99000301$$$$$$$Y$$\n", "LLT 99000401 twice"),
])
def test_the_checks_name_the_file_and_the_fault(tmp_path, name, text, message):
    broken = tmp_path / "release"
    shutil.copytree(RELEASE, broken)
    with open(broken / name, "a", encoding="utf-8") as handle:
        handle.write(text)
    with pytest.raises(MeddraFormatError, match=message):
        read_release(broken)


def test_a_ctcae_term_in_the_release_gets_its_pt_and_a_coded_event_keeps_its_facts():
    """The release completes the CTCAE row with the same LLT code (here a synthetic one)."""
    term = MeddraTerm.objects.create(source=CTCAE_V5, llt_code="99000401", llt_name="Synthetic ache LLT",
                                     soc_code="99000002", soc_name="Synthetic conditions SOC")
    load()
    term.refresh_from_db()
    assert (term.pt_code, term.pt_name, term.soc_code, term.soc_abbrev) == (
        "99000301", "Synthetic pain PT", "99000001", "SynA")
    assert term_by_llt_code("99000401") == term  # the CTCAE term first
