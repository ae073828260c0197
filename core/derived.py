"""Stored derived facts: the protocol every capture app follows.

Each derived clinical fact (a dosing weight, a prescribed dose, a window, a
malignancy's timing, an SAE's lateness...) is computed by a pure function of
the app's ``rules.py`` and stored on its row by the app's write service, with
the rules version that computed it (``rules_version``). Reports, exports, the
API and the pages read the stored columns.

After a protocol amendment or a rules fix, ``manage.py recompute_derived``
re-derives every stored fact. Each app registers one *recomputer* in its
``AppConfig.ready``::

    derived.register("visits", services.derived_recompute)

A recomputer is ``f(*, apply: bool, reason: str, user=None) -> list[DerivedChange]``:
it returns what differs between the stored facts and what the rules derive now
and, with ``apply``, writes the differences through the app's services (history
row with ``reason``; locked records are reported, not written). Recomputers run
in registration order (INSTALLED_APPS order: patients, visits, safety), so a
fact another app's rules read is brought up to date first.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class DerivedChange:
    """One stored fact that differs from what the rules derive now."""

    record: str  # e.g. "Infusion 42 (01-003 cycle 2 day 1)"
    field: str
    stored: object
    derived: object
    written: bool = False  # True once --apply wrote it
    refused: str = ""  # why it was not written (e.g. the casebook is locked)

    def __str__(self):
        state = "written" if self.written else (f"not written: {self.refused}" if self.refused else "would change")
        return f"{self.record}: {self.field} {self.stored!r} -> {self.derived!r} ({state})"


_RECOMPUTERS: dict = {}


def register(name: str, recompute) -> None:
    _RECOMPUTERS[name] = recompute


def recomputers() -> dict:
    """name -> recompute function, in registration order."""
    return dict(_RECOMPUTERS)
