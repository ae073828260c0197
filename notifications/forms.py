from django import forms
from django.utils.translation import gettext_lazy as _

from .models import Notice, NotificationPreference


class PreferenceForm(forms.ModelForm):
    """The e-mail switches (in-app notices are always kept). The monitor's SAE switch is
    checked by ``notifications.services.preference_save`` (``rules.preference_violations``)."""

    class Meta:
        model = NotificationPreference
        fields = ["email_sae", "email_query", "email_digest"]


class MarkReadForm(forms.Form):
    """One of the user's unread notices, or all of them."""

    notice = forms.ModelChoiceField(queryset=Notice.objects.none(), required=False)
    all = forms.BooleanField(required=False)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["notice"].queryset = Notice.objects.for_user(user)

    def clean(self):
        data = super().clean()
        if not data.get("notice") and not data.get("all"):
            raise forms.ValidationError(_("Say which notice to mark read, or all."), code="required")
        return data
