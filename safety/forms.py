from crispy_forms.layout import Fieldset, Layout
from django import forms

from core.forms import ClinicalRecordForm, DateInput
from visits.models import Infusion

from .models import AdverseEvent


class InfusionChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return f"Cycle {obj.cycle.number}, day {obj.day} ({obj.infusion_date:%Y-%m-%d})"


class AdverseEventForm(ClinicalRecordForm):
    infusion = InfusionChoiceField(queryset=Infusion.objects.none(), required=False,
                                   empty_label="Not linked to an infusion")

    class Meta:
        model = AdverseEvent
        fields = ["term", "description", "infusion", "onset_date", "end_date", "grade", "serious",
                  *AdverseEvent.CRITERIA, "relatedness", "action_taken", "outcome"]
        widgets = {"onset_date": DateInput(), "end_date": DateInput(),
                   "description": forms.Textarea(attrs={"rows": 2})}

    def __init__(self, *args, patient=None, **kwargs):
        super().__init__(*args, **kwargs)
        if patient is not None:
            self.instance.patient = patient
        patient = patient or self.instance.patient
        self.fields["infusion"].queryset = (Infusion.objects.filter(cycle__patient=patient)
                                            .select_related("cycle").order_by("cycle__number", "day"))
        self.helper.layout = Layout(
            Fieldset("Event", "term", "description", "infusion", "onset_date", "end_date"),
            Fieldset("Severity and seriousness", "grade", "serious", *AdverseEvent.CRITERIA),
            Fieldset("Assessment", "relatedness", "action_taken", "outcome"),
            *self.bookkeeping_layout(),
        )
