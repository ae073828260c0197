from django import forms
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from reporting.forms import ReportFilterForm

from .imports.labs import FIELDS
from .imports.labs.load import field_label


class ExportFilterForm(ReportFilterForm):
    """The query of an export download: the report's filters and the format
    (checked against the known formats by ``export_cohort``)."""

    format = forms.CharField(max_length=20, required=False)


class LabUploadForm(forms.Form):
    """Step 1 of the lab import: the laboratory's file."""

    file = forms.FileField(label=_("Laboratory file (CSV or XLSX)"),
                           widget=forms.ClearableFileInput(attrs={"accept": ".csv,.xlsx,text/csv"}))


class LabMappingForm(forms.Form):
    """Step 2: which column of the file holds each field (empty: not in the file)."""

    def __init__(self, *args, headers, **kwargs):
        super().__init__(*args, **kwargs)
        choices = [("", _("(not in the file)")), *((h, h) for h in headers)]
        for name in FIELDS:
            self.fields[name] = forms.ChoiceField(label=capfirst(field_label(name)), choices=choices,
                                                  required=False)

    def mapping(self):
        return {name: value for name, value in self.cleaned_data.items() if value}

    def add_mapping_errors(self, errors):
        for name, messages in errors.items():
            for message in messages:
                self.add_error(None if name not in self.fields else name, message)


class LabCommitForm(forms.Form):
    """Step 3: the confirmation of the dry run shown (its digest) with the reason for change."""

    reason = forms.CharField(label=_("Reason for change"), max_length=500,
                             widget=forms.Textarea(attrs={"rows": 2}),
                             help_text=_("Stored on the history row of every assessment changed."))
    digest = forms.CharField(widget=forms.HiddenInput, max_length=64)
