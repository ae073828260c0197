from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.generic import TemplateView

from core.views import RecordFormView, VoidView
from patients.views import PatientChildMixin, PatientRecordViewMixin

from . import selectors
from .forms import ConcomitantMedicationForm
from .models import ConcomitantMedication


class PatientMedicationMixin(PatientChildMixin):
    """Medication pages hang off a patient and return to the patient's medication list."""

    def get_success_url(self):
        return reverse("medications:medication_list", args=[self.get_patient().pk])


class MedicationListView(PatientRecordViewMixin, TemplateView):
    """The patient's concomitant medications (voided ones struck through), with the derived
    flags: two queries whatever their number."""

    view_permission = "medications.view_concomitantmedication"
    template_name = "medications/concomitantmedication_list.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        patient = self.patient
        context.update(patient=patient, medications=selectors.patient_medications(patient),
                       can_edit=selectors.may_edit(self.request.user, patient),
                       title=_("Concomitant medications of %(subject)s") % {"subject": patient.subject_id})
        return context


class MedicationCreateView(PatientMedicationMixin, RecordFormView):
    model = ConcomitantMedication
    form_class = ConcomitantMedicationForm
    permission_required = "medications.add_concomitantmedication"
    success_message = gettext_lazy("Medication recorded.")

    def get_object(self):
        self.get_patient()  # 404 outside the user's sites, before anything else
        return None

    def get_title(self):
        return _("Add a concomitant medication for %(subject)s") % {"subject": self.get_patient().subject_id}


class MedicationUpdateView(PatientMedicationMixin, RecordFormView):
    model = ConcomitantMedication
    form_class = ConcomitantMedicationForm
    permission_required = "medications.change_concomitantmedication"
    success_message = gettext_lazy("Medication corrected.")

    def get_object(self):
        return selectors.medication_get(user=self.request.user, patient_pk=self.kwargs["patient_pk"],
                                        pk=self.kwargs["pk"])

    def get_title(self):
        return _("Concomitant medication of %(subject)s: %(drug)s") % {
            "subject": self.get_patient().subject_id, "drug": self.object.drug_name}


class MedicationVoidView(VoidView):
    permission_required = "medications.change_concomitantmedication"
    title = gettext_lazy("Void a medication entered in error")
    success_message = gettext_lazy("Medication voided; it stays in the record.")

    def get_object(self):
        medication = selectors.medication_get(user=self.request.user, patient_pk=self.kwargs["patient_pk"],
                                              pk=self.kwargs["pk"])
        if medication.voided_at is not None or not selectors.may_edit(self.request.user, medication.patient):
            raise PermissionDenied(_("This medication cannot be voided now (already voided, or its casebook "
                                     "is locked), or your role at its site does not void one."))
        return medication

    def get_success_url(self):
        return reverse("medications:medication_list", args=[self.object.patient_id])
