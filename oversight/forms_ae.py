"""Forms of the adverse-event review pages.

The review and follow-up forms are ModelForms on an instance the view has
already tied to its event and user, so ``is_valid()`` runs the model's rules
(``safety.rules``) and shows their field errors; the service runs them again
under a row lock before writing. No rule lives in these forms.
"""

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Submit
from django import forms

from accounts.models import Site
from core.forms import AsciiModelChoiceField, CleanTextFormMixin, DateInput
from safety import rules
from safety.models import AdverseEventFollowUp, AdverseEventReview, Outcome, Relatedness


class _ActionForm(CleanTextFormMixin, forms.ModelForm):
    """One of several forms on the review page: posts to its own URL, with a
    prefix (and so element ids) of its own."""

    submit_label = "Save"

    def __init__(self, *args, action=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_action = action
        self.helper.form_id = f"form-{self.prefix}"
        self.helper.add_input(Submit("submit", self.submit_label, css_id=f"submit-{self.prefix}"))


class AcknowledgeForm(_ActionForm):
    submit_label = "Acknowledge"

    class Meta:
        model = AdverseEventReview
        fields = ["comment"]
        widgets = {"comment": forms.Textarea(attrs={"rows": 1})}
        help_texts = {"comment": "Optional."}


class MedicalReviewForm(_ActionForm):
    """The reviewer's own assessment. ``event_version`` is the version of the
    event the reviewer read: a review of data changed since is refused."""

    submit_label = "Record the medical review"

    event_version = forms.IntegerField(widget=forms.HiddenInput)

    class Meta:
        model = AdverseEventReview
        fields = ["comment", "reviewer_relatedness", "agrees_with_seriousness"]
        widgets = {"comment": forms.Textarea(attrs={"rows": 3})}
        help_texts = {"comment": "Your medical assessment of the event: required."}


class FollowUpForm(_ActionForm):
    submit_label = "Add the follow-up"

    class Meta:
        model = AdverseEventFollowUp
        fields = ["follow_up_date", "note", "outcome", "end_date"]
        widgets = {"follow_up_date": DateInput(), "end_date": DateInput(),
                   "note": forms.Textarea(attrs={"rows": 2})}


def _blank(choices, label):
    return [("", label), *choices]


class AEListingFilterForm(forms.Form):
    """GET filters of the AE listing; a value that does not validate is ignored."""

    grade = forms.TypedChoiceField(label="CTCAE grade", required=False, coerce=int, empty_value=None,
                                   choices=_blank(sorted(rules.CTCAE_GRADES.items()), "Any grade"))
    serious = forms.TypedChoiceField(label="Seriousness", required=False, empty_value=None,
                                     coerce=lambda v: v == "1",
                                     choices=[("", "Serious or not"), ("1", "Serious"), ("0", "Not serious")])
    relatedness = forms.ChoiceField(label="Relatedness (investigator)", required=False,
                                    choices=_blank(Relatedness.choices, "Any relatedness"))
    outcome = forms.ChoiceField(required=False, choices=_blank(Outcome.choices, "Any outcome"))
    site = AsciiModelChoiceField(queryset=Site.objects.none(), required=False, empty_label="All sites")

    def __init__(self, *args, sites, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["site"].queryset = sites
        for field in self.fields.values():
            field.widget.attrs["class"] = "form-select form-select-sm"

    @property
    def filters(self):
        """The valid filters (after ``is_valid()``), invalid ones dropped."""
        self.is_valid()
        return {name: value for name, value in self.cleaned_data.items() if value not in (None, "")}
