from django import forms

from core.forms import AsciiModelChoiceField


class ReportFilterForm(forms.Form):
    site = AsciiModelChoiceField(queryset=None, required=False, empty_label="All sites",
                                  to_field_name="code")
    diagnosis = forms.ChoiceField(choices=[("", "PM and DM"), ("PM", "PM"), ("DM", "DM")], required=False)

    def __init__(self, *args, sites, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["site"].queryset = sites
        for field in self.fields.values():
            field.widget.attrs["class"] = "form-select form-select-sm"

