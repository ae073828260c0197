"""Forms of the adverse-event review pages.

The review and follow-up forms are ModelForms on an instance the view has
already tied to its event and user, so ``is_valid()`` runs the model's rules
(``safety.rules``) and shows their field errors; the service runs them again
under a row lock before writing. No rule lives in these forms.
"""

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Submit
from django import forms
from django.utils.translation import gettext_lazy as _

from core.forms import CleanTextFormMixin
from safety.forms import AdverseEventFollowUpForm
from safety.models import AdverseEventReview


class _ActionForm(CleanTextFormMixin, forms.ModelForm):
    """One of several forms on the review page: posts to its own URL, with a
    prefix (and so element ids) of its own."""

    submit_label = _("Save")

    def __init__(self, *args, action=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_action = action
        self.helper.form_id = f"form-{self.prefix}"
        self.helper.add_input(Submit("submit", self.submit_label, css_id=f"submit-{self.prefix}"))


class AcknowledgeForm(_ActionForm):
    submit_label = _("Acknowledge")

    class Meta:
        model = AdverseEventReview
        fields = ["comment"]
        widgets = {"comment": forms.Textarea(attrs={"rows": 1})}
        help_texts = {"comment": _("Optional.")}


class MedicalReviewForm(_ActionForm):
    """The reviewer's own assessment. ``event_version`` is the version of the
    event the reviewer read: a review of data changed since is refused."""

    submit_label = _("Record the medical review")

    event_version = forms.IntegerField(widget=forms.HiddenInput)

    class Meta:
        model = AdverseEventReview
        fields = ["comment", "reviewer_relatedness", "agrees_with_seriousness"]
        widgets = {"comment": forms.Textarea(attrs={"rows": 3})}
        help_texts = {"comment": _("Your medical assessment of the event: required.")}


class FollowUpForm(_ActionForm, AdverseEventFollowUpForm):
    """The safety app's follow-up form, on the review page (its own URL and prefix)."""
