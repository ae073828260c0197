from django import forms
from django.utils.translation import gettext_lazy as _

from core.forms import AsciiModelChoiceField


class ReportFilterForm(forms.Form):
    site = AsciiModelChoiceField(queryset=None, required=False, empty_label=_("All sites"),
                                  to_field_name="code", label=_("Site"))
    diagnosis = forms.ChoiceField(choices=[("", _("PM and DM")), ("PM", _("PM")), ("DM", _("DM"))], required=False,
                                  label=_("Diagnosis"))

    def __init__(self, *args, sites, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["site"].queryset = sites
        for field in self.fields.values():
            field.widget.attrs["class"] = "form-select form-select-sm"

