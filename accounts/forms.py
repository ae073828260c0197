import re

from django import forms
from django.core.exceptions import ValidationError


class CodeForm(forms.Form):
    """A six-digit code from an authenticator app (spaces ignored)."""

    code = forms.CharField(
        label="Code from your authenticator app", max_length=12,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric",
                                      "autofocus": True, "pattern": r"[0-9 ]*"}))

    def clean_code(self):
        code = "".join(self.cleaned_data["code"].split())
        if not re.fullmatch(r"[0-9]{6}", code):  # not str.isdigit(): it accepts "²"
            raise ValidationError("Enter the 6 digits your authenticator app shows.", code="invalid_code")
        return code
