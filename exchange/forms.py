from django import forms

from reporting.forms import ReportFilterForm


class ExportFilterForm(ReportFilterForm):
    """The query of an export download: the report's filters and the format
    (checked against the known formats by ``export_cohort``)."""

    format = forms.CharField(max_length=20, required=False)
