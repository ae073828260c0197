"""Completeness per case report form: for each optional clinical field, how many of the
records the user may read have no value, and why (the missing-data codes of
``core.missing``: not done, not applicable, unknown, asked but unknown; or blank, with
no reason given). One aggregate query per form, whatever the cohort size."""

from dataclasses import dataclass

from accounts.scoping import scope_to_user_sites
from core.missing import MissingCode
from core.selectors import missing_counts
from patients.models import Diagnosis
from visits.models import Assessment, Infusion, TreatmentCycle


@dataclass
class FieldCompleteness:
    name: str
    label: str
    missing: int  # coded + blank
    coded: list  # [(code label, count)] of the codes in use
    blank: int  # empty without a code (an unticked box is a "no", never blank)


@dataclass
class FormCompleteness:
    label: str
    records: int
    fields: list


#: (model, its records, the path to the patient's site)
FORMS = (
    (TreatmentCycle, lambda: TreatmentCycle.objects.all(), "patient__site"),
    (Assessment, lambda: Assessment.objects.current(), "patient__site"),
    (Infusion, lambda: Infusion.objects.all(), "cycle__patient__site"),
    (Diagnosis, lambda: Diagnosis.objects.all(), "patient__site"),
)


def completeness(user):
    """[FormCompleteness] of the forms whose fields may carry a missing-data code."""
    forms = []
    for model, records, site_path in FORMS:
        counts = missing_counts(scope_to_user_sites(records(), user, site_field=site_path), model.MISSING_ALLOWED)
        fields, records_n = [], 0
        for name in model.MISSING_ALLOWED:
            field = counts[name]
            records_n = field["n"]
            coded = [(code.label, field[code.value]) for code in MissingCode if field[code.value]]
            fields.append(FieldCompleteness(name, model._meta.get_field(name).verbose_name,
                                            field["blank"] + sum(n for _, n in coded), coded, field["blank"]))
        forms.append(FormCompleteness(model._meta.verbose_name_plural, records_n, fields))
    return forms
