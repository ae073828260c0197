"""Loads of the dictionaries (the only writes of ``coding``): each one transaction,
idempotent (a second load of the same file changes nothing)."""

import csv
from pathlib import Path

from django.db import transaction

from .meddra import read_release
from .models import CTCAE_V5, MeddraTerm

CTCAE_FILE = Path(__file__).resolve().parent / "data" / "ctcae_v5_terms.csv"
_FIELDS = ("llt_name", "pt_code", "pt_name", "soc_code", "soc_name", "soc_abbrev", "current")


def ctcae_rows(path=CTCAE_FILE) -> list[dict]:
    """The shipped CTCAE v5.0 terms as dictionary rows (see ``coding/data/README.md``)."""
    with open(path, encoding="utf-8", newline="") as handle:
        return [{"llt_code": row["llt_code"], "llt_name": row["ctcae_term"], "pt_code": row["pt_code"],
                 "pt_name": row["pt_name"], "soc_code": row["soc_code"], "soc_name": row["soc_name"],
                 "soc_abbrev": "", "current": True} for row in csv.DictReader(handle)]


def _upsert(source: str, rows: list[dict], *, keep_pt: bool = False, model=MeddraTerm) -> dict:
    """Create or update ``rows`` of ``source``; a term no longer in the rows is kept,
    not current (events coded with it keep their stored facts). Returns the counts."""
    existing = {term.llt_code: term for term in model.objects.filter(source=source)}
    created, updated, retired = [], [], []
    for row in rows:
        term = existing.pop(row["llt_code"], None)
        if term is None:
            created.append(model(source=source, **row))
            continue
        values = dict(row)
        if keep_pt and term.pt_code and not values["pt_code"]:  # a PT filled by a MedDRA load stays
            values.update(pt_code=term.pt_code, pt_name=term.pt_name, soc_abbrev=term.soc_abbrev)
        if any(getattr(term, name) != values[name] for name in _FIELDS):
            for name in _FIELDS:
                setattr(term, name, values[name])
            updated.append(term)
    for term in existing.values():
        if term.current:
            term.current = False
            retired.append(term)
    for term in created + updated:
        term.full_clean(validate_unique=False)
    model.objects.bulk_create(created, batch_size=2000)
    model.objects.bulk_update(updated + retired, _FIELDS, batch_size=2000)
    return {"created": len(created), "updated": len(updated), "retired": len(retired)}


@transaction.atomic
def ctcae_load(path=CTCAE_FILE, *, model=MeddraTerm) -> dict:
    """Load (or refresh) the CTCAE v5.0 terms: run by the data migration (``model``: its
    historical model), ``seed_demo`` and the tests; idempotent."""
    return _upsert(CTCAE_V5, ctcae_rows(path), keep_pt=True, model=model)


@transaction.atomic
def meddra_load(directory, *, version: str) -> dict:
    """Load a licensed MedDRA release from its ASCII files, all or nothing: the files
    are read and checked first (``coding.meddra.read_release`` raises on the first
    inconsistency, nothing written), then written in one transaction. The CTCAE terms
    whose LLT is in the release get its PT and the PT's primary SOC (coded events keep
    the facts they were coded with)."""
    rows = [{"llt_code": r.llt_code, "llt_name": r.llt_name, "pt_code": r.pt_code, "pt_name": r.pt_name,
             "soc_code": r.soc_code, "soc_name": r.soc_name, "soc_abbrev": r.soc_abbrev, "current": r.current}
            for r in read_release(directory)]
    counts = _upsert(f"MedDRA {version}", rows)
    by_code = {row["llt_code"]: row for row in rows}
    ctcae = []
    for term in MeddraTerm.objects.filter(source=CTCAE_V5):
        row = by_code.get(term.llt_code)
        if row and (term.pt_code, term.pt_name, term.soc_code, term.soc_abbrev) != (
                row["pt_code"], row["pt_name"], row["soc_code"], row["soc_abbrev"]):
            term.pt_code, term.pt_name = row["pt_code"], row["pt_name"]
            term.soc_code, term.soc_name, term.soc_abbrev = row["soc_code"], row["soc_name"], row["soc_abbrev"]
            ctcae.append(term)
    MeddraTerm.objects.bulk_update(ctcae, ["pt_code", "pt_name", "soc_code", "soc_name", "soc_abbrev"])
    counts["ctcae_completed"] = len(ctcae)
    return counts
