"""Concomitant-medication rules: pure functions, no ORM (DOMAIN.md section 6).

The drugs that matter in this study (corticosteroids, methotrexate and the other
immunosuppressants, hydroxychloroquine; statins, a cause of drug-induced myopathy;
oestrogens, a thrombosis risk under IVIG) are classified by their WHO ATC code
(WHO Collaborating Centre for Drug Statistics Methodology, ATC/DDD Index,
https://atcddd.fhi.no/atc_ddd_index/). From the code the rules derive the flags
the outcome report and the exports read (stored by ``medications.services``):

- corticosteroid: ATC H02, corticosteroids for systemic use (H02AB glucocorticoids);
- immunosuppressant: ATC L04 (immunosuppressants), plus the antineoplastic codes of
  drugs used as immunosuppressants in myositis: methotrexate L01BA01, rituximab
  L01FA01, cyclophosphamide L01AA01;
- statin: ATC C10AA (HMG CoA reductase inhibitors) and C10B (combinations);
- oestrogen: ATC G03C (estrogens), G03AA / G03AB (combined hormonal contraceptives),
  G03F (progestogens and estrogens in combination);
- started during the study: started on or after the first IVIG infusion (SDTM
  RFSTDTC), the patient's stored ``first_infusion_date``.
"""

import re
from dataclasses import dataclass
from datetime import date

from django.db.models.enums import TextChoices  # an enumeration: no ORM
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from core.rules import Violation, future_date

#: The version of the rules that computed the stored facts of a medication
#: (``ConcomitantMedication.rules_version``): bump it when a rule below changes.
RULES_VERSION = "2026.12"

#: A WHO ATC code at its fifth level (the chemical substance): e.g. H02AB07.
ATC_PATTERN = re.compile(r"^[A-Z][0-9]{2}[A-Z]{2}[0-9]{2}$")
ATC_SYSTEM = "http://www.whocc.no/atc"


@dataclass(frozen=True)
class AtcDrug:
    code: str
    name: str  # the ATC level-5 name (English, as the WHO index spells it)


#: The study's drugs of interest (DOMAIN.md section 6) with their WHO ATC codes
#: (ATC/DDD Index 2025); offered on the form and naming the code in exports (CMDECOD).
KNOWN_DRUGS = (
    AtcDrug("H02AB07", "prednisone"),
    AtcDrug("H02AB06", "prednisolone"),
    AtcDrug("H02AB04", "methylprednisolone"),
    AtcDrug("H02AB09", "hydrocortisone"),
    AtcDrug("H02AB02", "dexamethasone"),
    AtcDrug("L04AX03", "methotrexate"),
    AtcDrug("L01BA01", "methotrexate"),  # the antineoplastic code (oncology doses)
    AtcDrug("L04AX01", "azathioprine"),
    AtcDrug("L04AA06", "mycophenolic acid"),
    AtcDrug("L04AD01", "ciclosporin"),
    AtcDrug("L04AD02", "tacrolimus"),
    AtcDrug("L01FA01", "rituximab"),
    AtcDrug("L01AA01", "cyclophosphamide"),
    AtcDrug("P01BA02", "hydroxychloroquine"),
    AtcDrug("C10AA01", "simvastatin"),
    AtcDrug("C10AA03", "pravastatin"),
    AtcDrug("C10AA05", "atorvastatin"),
    AtcDrug("C10AA07", "rosuvastatin"),
    AtcDrug("G03CA03", "estradiol"),
    AtcDrug("G03CA57", "conjugated estrogens"),
)
_NAMES = {drug.code: drug.name for drug in KNOWN_DRUGS}

#: ATC fourth-level groups (the chemical subgroup: SDTM CMCLAS / CMCLASCD).
ATC_CLASSES = {
    "H02AB": "Glucocorticoids",
    "L04AX": "Other immunosuppressants",
    "L04AA": "Selective immunosuppressants",
    "L04AD": "Calcineurin inhibitors",
    "L01BA": "Folic acid analogues",
    "L01FA": "CD20 (Clusters of Differentiation 20) inhibitors",
    "L01AA": "Nitrogen mustard analogues",
    "P01BA": "Aminoquinolines",
    "C10AA": "HMG CoA reductase inhibitors",
    "G03CA": "Natural and semisynthetic estrogens, plain",
}

CORTICOSTEROID_PREFIXES = ("H02",)
IMMUNOSUPPRESSANT_PREFIXES = ("L04", "L01BA01", "L01FA01", "L01AA01")
STATIN_PREFIXES = ("C10AA", "C10B")
OESTROGEN_PREFIXES = ("G03C", "G03AA", "G03AB", "G03F")


class DoseUnit(TextChoices):
    """CDISC UNIT terms (SDTM CMDOSU)."""

    MG = "mg", "mg"
    G = "g", "g"
    UG = "ug", "µg"
    MG_KG = "mg/kg", "mg/kg"
    IU = "IU", pgettext_lazy("international units", "IU")
    ML = "mL", "mL"
    TABLET = "TABLET", pgettext_lazy("dose unit", "tablet")


class Route(TextChoices):
    """CDISC ROUTE terms (SDTM CMROUTE)."""

    ORAL = "ORAL", _("oral")
    INTRAVENOUS = "INTRAVENOUS", _("intravenous")
    SUBCUTANEOUS = "SUBCUTANEOUS", _("subcutaneous")
    INTRAMUSCULAR = "INTRAMUSCULAR", _("intramuscular")
    TOPICAL = "TOPICAL", _("topical")
    TRANSDERMAL = "TRANSDERMAL", _("transdermal")
    RESPIRATORY = "RESPIRATORY (INHALATION)", _("inhaled")
    OTHER = "OTHER", pgettext_lazy("route", "other")


class Frequency(TextChoices):
    """CDISC FREQ terms (SDTM CMDOSFRQ)."""

    QD = "QD", _("once a day")
    BID = "BID", _("twice a day")
    TID = "TID", _("three times a day")
    QID = "QID", _("four times a day")
    QOD = "QOD", _("every other day")
    QW = "QW", _("once a week")
    QM = "QM", _("once a month")
    PRN = "PRN", _("as needed")
    ONCE = "ONCE", _("once")


def normal_atc(code: str) -> str:
    """The code as stored: upper case, no spaces."""
    return "".join((code or "").split()).upper()


def atc_name(code: str) -> str:
    """The ATC level-5 name of a known drug's code, else ''."""
    return _NAMES.get(normal_atc(code), "")


def atc_class_code(code: str) -> str:
    """The ATC fourth level (chemical subgroup) of a level-5 code, else ''."""
    code = normal_atc(code)
    return code[:5] if ATC_PATTERN.match(code) else ""


def atc_class_name(code: str) -> str:
    return ATC_CLASSES.get(atc_class_code(code), "")


def _has_prefix(code, prefixes):
    code = normal_atc(code)
    return bool(code) and code.startswith(prefixes)


@dataclass(frozen=True)
class MedicationFacts:
    atc_name: str
    atc_class_code: str
    atc_class_name: str
    is_corticosteroid: bool
    is_immunosuppressant: bool
    is_statin: bool
    is_oestrogen: bool
    started_during_study: bool


def medication_facts(*, atc_code: str, start_date: date | None, first_infusion: date | None) -> MedicationFacts:
    """What a medication derives from its ATC code and start date: the ATC names, the
    flags of the classes that matter here, and whether it started during the study
    (on or after the first infusion; no infusion yet: not during the study)."""
    return MedicationFacts(
        atc_name=atc_name(atc_code), atc_class_code=atc_class_code(atc_code),
        atc_class_name=atc_class_name(atc_code),
        is_corticosteroid=_has_prefix(atc_code, CORTICOSTEROID_PREFIXES),
        is_immunosuppressant=_has_prefix(atc_code, IMMUNOSUPPRESSANT_PREFIXES),
        is_statin=_has_prefix(atc_code, STATIN_PREFIXES),
        is_oestrogen=_has_prefix(atc_code, OESTROGEN_PREFIXES),
        started_during_study=bool(start_date and first_infusion and start_date >= first_infusion),
    )


def medication_violations(*, today, atc_code, start_date, end_date, ongoing, dose, dose_unit,
                          birth_year=None) -> list[Violation]:
    """The ATC code's format; the end date or "ongoing" (one of them, not both); dates
    in order and not in the future; a dose has its unit."""
    v = []
    code = normal_atc(atc_code)
    if code and not ATC_PATTERN.match(code):
        v.append(Violation("atc_code", "atc_format",
                           _("An ATC code has seven characters: a letter, two digits, two letters, two "
                             "digits (e.g. H02AB07 for prednisone).")))
    if ongoing and end_date is not None:
        v.append(Violation("end_date", "ongoing_with_end",
                           _("An ongoing medication has no end date: clear the end date or untick "
                             "'ongoing'.")))
    if not ongoing and end_date is None:
        v.append(Violation("end_date", "end_or_ongoing",
                           _("Give the end date, or tick 'ongoing' if the patient still takes it.")))
    if start_date and end_date and end_date < start_date:
        v.append(Violation("end_date", "end_before_start", _("The end date cannot be before the start date.")))
    v += future_date("start_date", start_date, today, _("The start date"))
    v += future_date("end_date", end_date, today, _("The end date"))
    if start_date and birth_year and start_date.year < birth_year:
        v.append(Violation("start_date", "before_birth", _("The start date cannot be before the patient's birth.")))
    if dose is not None and not dose_unit:
        v.append(Violation("dose_unit", "unit_required", _("Give the unit of the dose.")))
    if dose is not None and dose <= 0:
        v.append(Violation("dose", "not_positive", _("The dose is a positive number.")))
    return v
