from crispy_forms.layout import HTML, Div, Fieldset, Layout
from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.roles import Role
from accounts.scoping import access_for, sites_for_data_entry
from core.forms import ClinicalRecordForm, DateInput, ReasonForm

from . import rules, services
from .models import Diagnosis, MalignancyHistory, Patient, PatientStatus


class PatientForm(ClinicalRecordForm):
    class Meta:
        model = Patient
        fields = [
            "subject_id", "site", "sex", "birth_year", "birth_date", "race",
            "consent_date", "enrolment_date", "symptom_onset_date",
            "active_myopathy", "ctd_associated", "steroid_contraindication",
            "renal_risk", "renal_risk_since", "thrombotic_risk", "thrombotic_risk_since",
            "suspected_cause", "suspected_cause_detail", "status",
        ]
        widgets = {
            "birth_date": DateInput(),
            "consent_date": DateInput(),
            "enrolment_date": DateInput(),
            "symptom_onset_date": DateInput(),
            "renal_risk_since": DateInput(),
            "thrombotic_risk_since": DateInput(),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["site"].queryset = sites_for_data_entry(self.user)
        access = access_for(self.user)
        if not self.is_edit and Role.ADMIN.value not in access.roles and len(access.site_ids) == 1:
            # A user with a role at one site enrols at that site: preselected (still shown).
            self.initial.setdefault("site", next(iter(access.site_ids)))
        if self.is_edit:
            # Withdrawal has its own page (date and reason); offer the moves allowed from here.
            current = rules.PatientStatus(self.instance.status)
            allowed = {current} | rules.STATUS_TRANSITIONS[current]
            allowed.discard(rules.PatientStatus.WITHDRAWN)
            if current == rules.PatientStatus.WITHDRAWN:
                allowed = {current}
        else:
            allowed = {rules.PatientStatus.SCREENING, rules.PatientStatus.ON_STUDY}
        self.fields["status"].choices = [
            (value, label) for value, label in PatientStatus.choices if rules.PatientStatus(value) in allowed
        ]
        self.helper.layout = Layout(
            Fieldset(_("Identification"), Div("subject_id", "site", css_class="col-md-6")),
            Fieldset(_("Demographics"), "sex", "birth_year", "birth_date", "race"),
            Fieldset(_("Enrolment and eligibility"), "consent_date", "enrolment_date",
                     "symptom_onset_date", "active_myopathy", "ctd_associated",
                     "steroid_contraindication"),
            Fieldset(_("IVIG safety screen"), "renal_risk", "renal_risk_since", "thrombotic_risk",
                     "thrombotic_risk_since"),
            Fieldset(_("Suspected cause"), "suspected_cause", "suspected_cause_detail"),
            Fieldset(_("Status"), "status"),
            *self.bookkeeping_layout(),
        )


    def save(self, commit=True):
        """Through ``patients.services.patient_save``: a correction re-derives the
        diagnosis and malignancies too (their facts read the patient's dates)."""
        patient = super().save(commit=False)
        if commit:
            services.patient_save(
                patient=patient, reason=self.cleaned_data.get("change_reason", "") if self.is_edit else "",
                expected_version=self.cleaned_data.get("expected_version") if self.is_edit else None)
        return patient


class WithdrawForm(ReasonForm):
    """Withdraw a patient; the reason is also the history row's reason for change."""

    submit_label = _("Withdraw patient")
    submit_class = "btn-danger"

    withdrawal_date = forms.DateField(label=_("Withdrawal date"), widget=DateInput())
    withdrawal_reason = forms.CharField(label=_("Withdrawal reason"), max_length=1000,
                                        widget=forms.Textarea(attrs={"rows": 3}))
    expected_version = forms.IntegerField(widget=forms.HiddenInput)


class DiagnosisForm(ClinicalRecordForm):
    #: Notes shown in the layout (crispy's HTML renders them, escaped, in the active language).
    criterion_5_note = _("Criterion 5, the typical rash, is any of the three skin signs below.")
    eular_acr_note = _("Age at first symptom comes from the patient's dates; raised enzymes from criterion 3.")

    class Meta:
        model = Diagnosis
        fields = [
            "kind", "diagnosis_date",
            "bp_weakness", "bp_biopsy", "bp_enzymes", "bp_emg",
            "heliotrope_rash", "gottron_papules", "gottron_sign",
            "upper_limb_weakness", "lower_limb_weakness", "neck_flexors_weaker",
            "legs_proximal_weaker", "dysphagia", "anti_jo1",
            "biopsy_performed", "biopsy_endomysial_infiltrate", "biopsy_perimysial_infiltrate",
            "biopsy_perifascicular_atrophy", "biopsy_rimmed_vacuoles",
        ]
        widgets = {"diagnosis_date": DateInput()}

    def __init__(self, *args, patient=None, **kwargs):
        super().__init__(*args, **kwargs)
        if patient is not None:
            self.instance.patient = patient
        self.helper.layout = Layout(
            Fieldset(_("Diagnosis"), "kind", "diagnosis_date"),
            Fieldset(_("Bohan & Peter criteria"),
                     *self.with_missing("bp_weakness", "bp_biopsy", "bp_enzymes", "bp_emg"),
                     HTML('<p class="form-text">{{ form.criterion_5_note }}</p>')),
            Fieldset(_("Skin signs (criterion 5 and EULAR/ACR)"),
                     *self.with_missing("heliotrope_rash", "gottron_papules", "gottron_sign")),
            Fieldset(_("2017 EULAR/ACR variables"),
                     *self.with_missing("upper_limb_weakness", "lower_limb_weakness", "neck_flexors_weaker",
                                        "legs_proximal_weaker", "dysphagia", "anti_jo1"),
                     HTML('<p class="form-text">{{ form.eular_acr_note }}</p>')),
            Fieldset(_("Muscle biopsy"),
                     *self.with_missing("biopsy_performed", "biopsy_endomysial_infiltrate",
                                        "biopsy_perimysial_infiltrate", "biopsy_perifascicular_atrophy",
                                        "biopsy_rimmed_vacuoles")),
            *self.bookkeeping_layout(),
        )


class MalignancyForm(ClinicalRecordForm):
    class Meta:
        model = MalignancyHistory
        fields = ["malignancy_type", "diagnosis_date", "status", "certainty", "notes"]
        widgets = {"diagnosis_date": DateInput(), "notes": forms.Textarea(attrs={"rows": 2})}

    def __init__(self, *args, patient=None, **kwargs):
        super().__init__(*args, **kwargs)
        if patient is not None:
            self.instance.patient = patient
