"""Missing-data codes: why an optional clinical value is empty (issue 17, point 1).

One mechanism, defined here once:

- a clinical model names its optional clinical fields in ``MISSING_ALLOWED`` and the
  fields that must hold a value *or* a code in ``MISSING_REQUIRED`` (an infusion's
  volume and rate); it stores the codes in one companion column, ``missing_codes``
  (``{field name: code}``, :class:`core.models.MissingCodesRecord`), so history
  records a code like any value;
- :func:`missing_violations` is the rule (pure, no ORM): a code only for a declared
  field, only while that field is empty; ``full_clean()`` runs it for every channel;
- the codes' representations in each exchange format are here too (FHIR
  ``dataAbsentReason``, SDTM ``--STAT``/``--REASND``, ODM and CSV), so every export
  writes the same thing.

A yes/no field (a diagnosis criterion) is "empty" when it is not ticked: a code on it
says "not assessed" and the value stays False (the derived certainty and score count
it as not met); exports show the code, not "N".
"""

from django.db import models
from django.utils.translation import gettext_lazy as _

from .rules import Violation


class MissingCode(models.TextChoices):
    """HL7 v3 nullFlavor codes (the ones REDCap and CDISC use for trial data)."""

    NOT_DONE = "ND", _("Not done")
    NOT_APPLICABLE = "NA", _("Not applicable")
    UNKNOWN = "UNK", _("Unknown")
    ASKED_UNKNOWN = "ASKU", _("Asked but unknown")


#: FHIR R4 ``dataAbsentReason`` (http://terminology.hl7.org/CodeSystem/data-absent-reason).
FHIR_DATA_ABSENT_SYSTEM = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
FHIR_DATA_ABSENT = {
    MissingCode.NOT_DONE: ("not-performed", "Not Performed"),
    MissingCode.NOT_APPLICABLE: ("not-applicable", "Not Applicable"),
    MissingCode.UNKNOWN: ("unknown", "Unknown"),
    MissingCode.ASKED_UNKNOWN: ("asked-unknown", "Asked But Unknown"),
}
#: SDTM: the result empty, ``--STAT`` = NOT DONE and ``--REASND`` the reason.
SDTM_STAT_NOT_DONE = "NOT DONE"
SDTM_REASND = {
    MissingCode.NOT_DONE: "NOT DONE",
    MissingCode.NOT_APPLICABLE: "NOT APPLICABLE",
    MissingCode.UNKNOWN: "UNKNOWN",
    MissingCode.ASKED_UNKNOWN: "ASKED BUT UNKNOWN",
}
#: English labels for exports (CSV/XLSX dictionary, ODM code list): neutral, never translated.
EXPORT_LABELS = {
    MissingCode.NOT_DONE: "Not done",
    MissingCode.NOT_APPLICABLE: "Not applicable",
    MissingCode.UNKNOWN: "Unknown",
    MissingCode.ASKED_UNKNOWN: "Asked but unknown",
}
CODES = frozenset(MissingCode.values)
#: The suffix of a field's companion column in tabular exports and of its ODM item.
COLUMN_SUFFIX = "_missing"


def is_empty(value) -> bool:
    """An optional value not recorded: None, "" or an unticked box."""
    return value is None or value == "" or value is False


def missing_violations(*, values: dict, codes, allowed, required=()) -> list[Violation]:
    """The refusals of a record's missing-data codes.

    ``values``: {field: value} of the fields in ``allowed``; ``codes``: the stored map
    ``{field: code}``; ``allowed``: the fields that may carry a code; ``required``: those
    of them that must hold a value or a code.
    """
    v = []
    if codes is None:
        codes = {}
    if not isinstance(codes, dict):
        return [Violation("missing_codes", "missing_not_a_map",
                          _("Give the missing-data codes as a map of field name to code."))]
    for name, code in codes.items():
        if name not in allowed:
            v.append(Violation("missing_codes", "missing_unknown_field",
                               _("%(field)s cannot be recorded as missing (fields that can: %(allowed)s).")
                               % {"field": str(name)[:60], "allowed": ", ".join(allowed)}))
        elif code not in CODES:
            v.append(Violation("missing_codes", "missing_unknown_code",
                               _("%(code)s is not a missing-data code (codes: %(codes)s).")
                               % {"code": str(code)[:20], "codes": ", ".join(MissingCode.values)}))
        elif not is_empty(values.get(name)):
            v.append(Violation(name, "missing_with_value",
                               _("A value and a missing-data code: clear the value or the code.")))
    for name in required:
        if is_empty(values.get(name)) and name not in codes:
            v.append(Violation(name, "required_unless_missing",
                               _("This field is required unless recorded as not done (or another "
                                 "missing-data code).")))
    return v


def codes_of(record) -> dict:
    """The valid codes of a record ({} for a model without the column)."""
    return getattr(record, "missing_codes", None) or {}


def reason_counts(codes_maps, field) -> dict:
    """{code: count} of one field over many records' code maps."""
    counts = {}
    for codes in codes_maps:
        code = (codes or {}).get(field)
        if code:
            counts[code] = counts.get(code, 0) + 1
    return counts


def export_value(value, code):
    """A value for a tabular export: the value, or empty when coded."""
    if code:
        return None
    return value

