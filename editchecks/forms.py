from django import forms
from django.utils.translation import gettext_lazy as _

from core.validation import validate_multiline_text


class SwitchForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), widget=forms.Textarea(attrs={"rows": 3}), max_length=1000,
                             validators=[validate_multiline_text],
                             help_text=_("Kept with the switch in the audit trail."))
