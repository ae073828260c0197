import re

from django import forms
from django.conf import settings
from django.contrib.auth.forms import PasswordChangeForm
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from .services import password_recheck


class LockoutAwarePasswordChangeForm(PasswordChangeForm):
    """Django's form checks the current password with ``check_password``, which
    django-axes never sees: a wrong current password here is a failed login like
    a wrong e-signature password (it counts toward the lockout, and a locked
    account is refused even with the right one)."""

    def __init__(self, user, *args, request=None, **kwargs):
        self.request = request
        super().__init__(user, *args, **kwargs)

    def clean_old_password(self):
        old_password = self.cleaned_data["old_password"]
        if not password_recheck(request=self.request, user=self.user, password=old_password):
            raise ValidationError(self.error_messages["password_incorrect"], code="password_incorrect")
        return old_password

    def clean(self):
        """A new password differs from the current one (once the current one is known
        to be right): without it a user made to change an expired password could type
        the same one again."""
        cleaned = super().clean()
        old, new = cleaned.get("old_password"), cleaned.get("new_password1")
        if old and new and old == new:
            self.add_error("new_password1", ValidationError(
                _("The new password must differ from the current one."), code="password_unchanged"))
        return cleaned


class CodeForm(forms.Form):
    """A six-digit code from an authenticator app (spaces ignored)."""

    code = forms.CharField(
        label=_("Code from your authenticator app"), max_length=12,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric",
                                      "autofocus": True, "pattern": r"[0-9 ]*"}))

    def clean_code(self):
        code = "".join(self.cleaned_data["code"].split())
        if not re.fullmatch(r"[0-9]{6}", code):  # not str.isdigit(): it accepts "²"
            raise ValidationError(_("Enter the 6 digits your authenticator app shows."), code="invalid_code")
        return code


def language_choices():
    return [("", _("Your browser's language"))] + [(code, name) for code, name in settings.LANGUAGES]


class ProfileForm(forms.Form):
    """The profile page: the language of the user's screens, e-mails and PDF casebooks."""

    language = forms.ChoiceField(label=_("Language"), choices=language_choices, required=False,
                                 help_text=_("Screens, e-mails and PDF casebooks. Exports, the API and "
                                             "the audit trail keep the standards' codes, ISO dates and "
                                             "dot decimals in every language."))


class LanguageSwitchForm(forms.Form):
    """The navbar's switch: one language, and the page to go back to."""

    language = forms.ChoiceField(choices=settings.LANGUAGES,
                                 error_messages={"invalid_choice": _("Choose a language of the list.")})
    next = forms.CharField(required=False, max_length=2000)
