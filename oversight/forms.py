from crispy_forms.helper import FormHelper
from crispy_forms.layout import Submit
from django import forms
from django.utils.translation import gettext_lazy as _

from core.forms import AsciiIntegerField, CleanTextFormMixin, FilterForm


class _Form(CleanTextFormMixin, forms.Form):
    submit_label = _("Confirm")
    submit_class = "btn-primary"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.add_input(Submit("submit", self.submit_label, css_class=self.submit_class))


class SignForm(_Form):
    submit_label = _("Sign")
    password = forms.CharField(label=_("Password"), widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
                               help_text=_("Your password, entered again: it is your signature."))


class LockForm(_Form):
    submit_label = _("Lock")
    submit_class = "btn-warning"
    reason = forms.CharField(label=_("Reason"), required=False, max_length=500, widget=forms.Textarea(attrs={"rows": 2}),
                             help_text=_("Optional, e.g. 'Database lock for the interim analysis'."))


class UnlockForm(_Form):
    submit_label = _("Unlock")
    submit_class = "btn-danger"
    reason = forms.CharField(label=_("Reason"), max_length=500, widget=forms.Textarea(attrs={"rows": 2}))


class VerifyForm(_Form):
    submit_label = _("Mark source data verified")


class QueryRaiseForm(_Form):
    submit_label = _("Raise query")
    target = forms.ChoiceField(label=_("Record and field"))
    question = forms.CharField(label=_("Question"), max_length=2000, widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args, targets, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["target"].choices = targets


class QueryReplyForm(_Form):
    text = forms.CharField(label=_("Message"), max_length=2000, required=False,
                           widget=forms.Textarea(attrs={"rows": 3}))


class QueryTargetForm(FilterForm):
    """The patient (required) and cycle of the raise-a-query page."""

    patient = AsciiIntegerField(required=True)
    cycle = AsciiIntegerField(max_value=32767)
