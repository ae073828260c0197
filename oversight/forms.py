from crispy_forms.helper import FormHelper
from crispy_forms.layout import Submit
from django import forms

from core.forms import AsciiIntegerField, CleanTextFormMixin, FilterForm


class _Form(CleanTextFormMixin, forms.Form):
    submit_label = "Confirm"
    submit_class = "btn-primary"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.add_input(Submit("submit", self.submit_label, css_class=self.submit_class))


class SignForm(_Form):
    submit_label = "Sign"
    password = forms.CharField(widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
                               help_text="Your password, entered again: it is your signature.")


class LockForm(_Form):
    submit_label = "Lock"
    submit_class = "btn-warning"
    reason = forms.CharField(required=False, max_length=500, widget=forms.Textarea(attrs={"rows": 2}),
                             help_text="Optional, e.g. 'Database lock for the interim analysis'.")


class UnlockForm(_Form):
    submit_label = "Unlock"
    submit_class = "btn-danger"
    reason = forms.CharField(max_length=500, widget=forms.Textarea(attrs={"rows": 2}))


class VerifyForm(_Form):
    submit_label = "Mark source data verified"


class QueryRaiseForm(_Form):
    submit_label = "Raise query"
    target = forms.ChoiceField(label="Record and field")
    question = forms.CharField(max_length=2000, widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args, targets, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["target"].choices = targets


class QueryReplyForm(_Form):
    text = forms.CharField(label="Message", max_length=2000, required=False,
                           widget=forms.Textarea(attrs={"rows": 3}))


class QueryTargetForm(FilterForm):
    """The patient (required) and cycle of the raise-a-query page."""

    patient = AsciiIntegerField(required=True)
    cycle = AsciiIntegerField(max_value=32767)
