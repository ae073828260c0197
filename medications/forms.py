from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from crispy_forms.layout import Fieldset, Layout

from core.forms import ClinicalRecordForm, DateInput

from . import rules
from .models import ConcomitantMedication
from .services import medication_save


def _known_drug_choices():
    return [("", gettext_lazy("Not in the list (type the name and the code)")),
            *[(drug.code, f"{drug.name} ({drug.code})") for drug in rules.KNOWN_DRUGS]]


class ConcomitantMedicationForm(ClinicalRecordForm):
    known_drug = forms.ChoiceField(
        label=gettext_lazy("Drug of interest"), required=False, choices=_known_drug_choices,
        help_text=gettext_lazy("Picking one fills the ATC code (and the name, if empty)."))

    class Meta:
        model = ConcomitantMedication
        fields = ["drug_name", "atc_code", "indication", "dose", "dose_unit", "route", "frequency",
                  "start_date", "end_date", "ongoing"]
        widgets = {"start_date": DateInput(), "end_date": DateInput()}

    def __init__(self, *args, patient=None, **kwargs):
        super().__init__(*args, **kwargs)
        if patient is not None:
            self.instance.patient = patient
        self.fields["drug_name"].required = False  # the drug of interest may give it (clean)
        self.helper.layout = Layout(
            Fieldset(_("Drug"), "known_drug", "drug_name", "atc_code", "indication"),
            Fieldset(_("Dosing"), "dose", "dose_unit", "route", "frequency"),
            Fieldset(_("Dates"), "start_date", "end_date", "ongoing"),
            *self.bookkeeping_layout(),
        )

    def clean(self):
        known = self.cleaned_data.get("known_drug")
        if known:
            code = rules.normal_atc(self.cleaned_data.get("atc_code"))
            if code and code != known:
                self.add_error("atc_code", forms.ValidationError(
                    _("The ATC code differs from the drug picked in the list (%(code)s): clear one of them."),
                    code="atc_mismatch", params={"code": known}))
            else:
                self.cleaned_data["atc_code"] = known
                self.instance.atc_code = known
                if not (self.cleaned_data.get("drug_name") or "").strip():
                    self.cleaned_data["drug_name"] = rules.atc_name(known)
                    self.instance.drug_name = rules.atc_name(known)
        if not (self.cleaned_data.get("drug_name") or "").strip() and "drug_name" not in self.errors:
            self.add_error("drug_name", forms.ValidationError(
                _("Give the drug's name, or pick it in the list."), code="required"))
        return super().clean()

    def save(self, commit=True):
        """Through ``medications.services.medication_save`` (the derived flags)."""
        medication = super().save(commit=False)
        if commit:
            medication_save(medication=medication, user=self.user,
                            reason=self.cleaned_data.get("change_reason", "") if self.is_edit else "",
                            expected_version=self.cleaned_data.get("expected_version") if self.is_edit else None)
        return medication
