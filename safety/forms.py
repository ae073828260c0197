from crispy_forms.helper import FormHelper
from crispy_forms.layout import Fieldset, Layout, Submit
from django import forms
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext

from core.forms import CleanTextFormMixin, ClinicalRecordForm, DateInput, DateTimeInput
from coding.selectors import ctcae_terms
from visits.models import Infusion

from .models import AdverseEvent, AdverseEventFollowUp
from .services import adverse_event_save


class InfusionChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return _("Cycle %(number)s, day %(day)s (%(date)s)") % {
            "number": obj.cycle.number, "day": obj.day, "date": date_format(obj.infusion_date, "SHORT_DATE_FORMAT")}


class CodedTermChoiceField(forms.ModelChoiceField):
    """The CTCAE v5.0 terms by name, each with its MedDRA code and system organ class
    (dictionary words: English in every language). A browser's select finds a term by
    its first letters typed; ``static/js/term_filter.js`` adds a filter box."""

    def label_from_instance(self, obj):
        return obj.label


class AdverseEventForm(ClinicalRecordForm):
    coded_term = CodedTermChoiceField(
        queryset=ctcae_terms(), required=False, label=gettext_lazy("Coded term (CTCAE v5.0)"),
        empty_label=gettext_lazy("Not coded yet"),
        help_text=gettext_lazy("The CTCAE term that codes the event, with its MedDRA code and system organ "
                               "class. The term as reported stays as typed above."))
    infusion = InfusionChoiceField(queryset=Infusion.objects.none(), required=False,
                                   label=gettext_lazy("Infusion"),
                                   empty_label=gettext_lazy("Not linked to an infusion"))

    class Meta:
        model = AdverseEvent
        fields = ["term", "coded_term", "description", "infusion", "onset_date", "end_date", "aware_at", "grade", "serious",
                  *AdverseEvent.CRITERIA, "relatedness", "action_taken", "outcome"]
        widgets = {"onset_date": DateInput(), "end_date": DateInput(), "aware_at": DateTimeInput(),
                   "description": forms.Textarea(attrs={"rows": 2})}

    def __init__(self, *args, patient=None, **kwargs):
        super().__init__(*args, **kwargs)
        if patient is not None:
            self.instance.patient = patient
        patient = patient or self.instance.patient
        self.fields["infusion"].queryset = (Infusion.objects.filter(cycle__patient=patient)
                                            .select_related("cycle").order_by("cycle__number", "day"))
        self.helper.layout = Layout(
            Fieldset(_("Event"), "term", "coded_term", "description", "infusion", "onset_date", "end_date", "aware_at"),
            Fieldset(_("Severity and seriousness"), "grade", "serious", *AdverseEvent.CRITERIA),
            Fieldset(pgettext("adverse event form section", "Assessment"), "relatedness", "action_taken", "outcome"),
            *self.bookkeeping_layout(),
        )
    def save(self, commit=True):
        """Through ``safety.services.adverse_event_save`` (awareness default, SAE clock)."""
        event = super().save(commit=False)
        if commit:
            adverse_event_save(event=event, reason=self.cleaned_data.get("change_reason", "") if self.is_edit else "",
                               expected_version=self.cleaned_data.get("expected_version") if self.is_edit else None)
        return event



class AdverseEventFollowUpForm(CleanTextFormMixin, forms.ModelForm):
    """A follow-up of one event: a ModelForm on an instance the view has tied to its
    event and user, so ``is_valid()`` runs the model's rules; the view saves it through
    ``safety.services.adverse_event_follow_up`` (the event's outcome and end date follow)."""

    submit_label = gettext_lazy("Add the follow-up")

    class Meta:
        model = AdverseEventFollowUp
        fields = ["follow_up_date", "note", "outcome", "end_date"]
        widgets = {"follow_up_date": DateInput(), "end_date": DateInput(),
                   "note": forms.Textarea(attrs={"rows": 2})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.add_input(Submit("submit", self.submit_label))
