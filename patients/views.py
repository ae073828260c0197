from django.core.exceptions import PermissionDenied
from django.forms.models import ModelChoiceIteratorValue
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.generic import DetailView, ListView

from accounts.mixins import PermissionRequiredMixin
from accounts.scoping import may
from core.views import ActionFormView, RecordFormView, VoidView

from . import selectors, services
from .filters import PatientFilterSet
from .forms import DiagnosisForm, MalignancyForm, PatientForm, WithdrawForm
from .models import Diagnosis, MalignancyHistory, Patient


_PK = 987654321  # a stand-in primary key, replaced in a reversed URL


class PatientListView(PermissionRequiredMixin, ListView):
    permission_required = "patients.view_patient"
    raise_exception = True
    template_name = "patients/patient_list.html"
    context_object_name = "patients"
    paginate_by = 50

    def get_queryset(self):
        self.filterset = PatientFilterSet(self.request.GET, queryset=selectors.patient_list(user=self.request.user),
                                          request=self.request)
        # The site choices from one plain query: a ModelChoiceField iterates its queryset with
        # iterator(), on PostgreSQL a server-side cursor (DECLARE, FETCH, CLOSE: three round
        # trips). Same values and labels; validation still goes through the queryset.
        site_field = self.filterset.form.fields["site"]
        site_field.choices = [("", site_field.empty_label)] + [
            (ModelChoiceIteratorValue(site.pk, site), site_field.label_from_instance(site))
            for site in site_field.queryset]
        self.filter_form = self.filterset.form
        return self.filterset.qs

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        # The page's rows as plain values (``patients`` stays the page's queryset, unevaluated);
        # the detail URL from a prefix, not one reverse() per row.
        rows = selectors.patient_list_rows(context["page_obj"].object_list)
        head, _, tail = reverse("patients:patient_detail", args=[_PK]).rpartition(str(_PK))
        detail = head + "{}" + tail
        for row in rows:
            row["url"] = detail.format(row["pk"])
        context["rows"] = rows
        context["today"] = timezone.localdate()  # the next cycle's state (and the rows' cache key) follow the day
        context["filter_form"] = self.filter_form
        query = self.request.GET.copy()
        query.pop("page", None)
        context["query_string"] = query.urlencode()
        return context


class PatientDetailView(PermissionRequiredMixin, DetailView):
    permission_required = "patients.view_patient"
    raise_exception = True
    template_name = "patients/patient_detail.html"
    context_object_name = "patient"

    def get_object(self, queryset=None):
        return selectors.patient_get(user=self.request.user, pk=self.kwargs["pk"])

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        patient = self.object
        malignancies = selectors.patient_malignancies(patient)
        for m in malignancies:
            m.timing_label = m.get_timing_display()  # stored by patients.services
        context.update(
            diagnosis=selectors.patient_diagnosis(patient),
            malignancies=malignancies,
            change_log=selectors.patient_change_log(patient),
            can_edit=may(self.request.user, "patients.change_patient"),
        )
        return context


class PatientCreateView(RecordFormView):
    model = Patient
    form_class = PatientForm
    permission_required = "patients.add_patient"
    title = gettext_lazy("Enrol a patient")
    success_message = gettext_lazy("Patient enrolled.")

    def get_object(self):
        return None

    def get_success_url(self):
        if self.object:
            return self.object.get_absolute_url()
        return reverse("patients:patient_list")


class PatientUpdateView(RecordFormView):
    model = Patient
    form_class = PatientForm
    permission_required = "patients.change_patient"
    success_message = gettext_lazy("Patient record corrected.")

    def get_object(self):
        return selectors.patient_get(user=self.request.user, pk=self.kwargs["pk"])

    def get_title(self):
        return _("Edit patient %(subject)s") % {"subject": self.object.subject_id}

    def get_success_url(self):
        return self.object.get_absolute_url()


class PatientWithdrawView(ActionFormView):
    form_class = WithdrawForm
    permission_required = "patients.change_patient"
    title = gettext_lazy("Withdraw patient")
    success_message = gettext_lazy("Patient withdrawn.")

    def get_object(self):
        return selectors.patient_get(user=self.request.user, pk=self.kwargs["pk"])

    def perform(self, form):
        services.patient_withdraw(
            patient=self.object, on=form.cleaned_data["withdrawal_date"],
            reason=form.cleaned_data["withdrawal_reason"],
            expected_version=form.cleaned_data["expected_version"], user=self.request.user,
        )

    def get_success_url(self):
        return self.object.get_absolute_url()


class PatientChildMixin:
    """For records that hang off a patient: the patient comes from the URL, scoped."""

    def get_patient(self):
        if not hasattr(self, "_patient"):
            self._patient = selectors.patient_get(user=self.request.user, pk=self.kwargs["patient_pk"])
        return self._patient

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        kwargs["patient"] = self.get_patient()
        return kwargs

    def get_success_url(self):
        return self.get_patient().get_absolute_url()

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["patient"] = self.get_patient()
        return context


class PatientRecordViewMixin:
    """A read-only page about a patient's records: the patient from the URL, scoped to the
    user's sites (404 outside them), and ``view_permission`` held at the patient's site
    (or study-wide), else 403. Locked records are shown like the others."""

    view_permission = ""

    def dispatch(self, request, *args, **kwargs):
        self.patient = selectors.patient_get(user=request.user, pk=kwargs["patient_pk"])
        if not may(request.user, self.view_permission, site_id=self.patient.site_id):
            raise PermissionDenied(_("Your role does not show these records."))
        return super().dispatch(request, *args, **kwargs)


class DiagnosisEditView(PatientChildMixin, RecordFormView):
    """Record the diagnosis (first time) or correct it (with a reason)."""

    model = Diagnosis
    form_class = DiagnosisForm
    success_message = gettext_lazy("Diagnosis saved.")

    def get_permission_required(self):
        return ["patients.add_diagnosis", "patients.change_diagnosis"]

    def get_object(self):
        return selectors.patient_diagnosis(self.get_patient())

    def get_title(self):
        subject = self.get_patient().subject_id
        if self.object:
            return _("Correct the diagnosis of %(subject)s") % {"subject": subject}
        return _("Record the diagnosis of %(subject)s") % {"subject": subject}


class MalignancyCreateView(PatientChildMixin, RecordFormView):
    model = MalignancyHistory
    form_class = MalignancyForm
    permission_required = "patients.add_malignancyhistory"
    success_message = gettext_lazy("Malignancy history added.")

    def get_object(self):
        return None

    def get_title(self):
        return _("Add a malignancy to the history of %(subject)s") % {
            "subject": self.get_patient().subject_id}


class MalignancyUpdateView(PatientChildMixin, RecordFormView):
    model = MalignancyHistory
    form_class = MalignancyForm
    permission_required = "patients.change_malignancyhistory"
    success_message = gettext_lazy("Malignancy history corrected.")

    def get_object(self):
        return selectors.malignancy_get(user=self.request.user, patient_pk=self.kwargs["patient_pk"],
                                        pk=self.kwargs["pk"])

    def get_title(self):
        return _("Correct a malignancy of %(subject)s") % {"subject": self.get_patient().subject_id}


class MalignancyVoidView(VoidView):
    permission_required = "patients.change_malignancyhistory"
    title = gettext_lazy("Void a malignancy entry")
    success_message = gettext_lazy("Entry voided; it stays in the record, struck through.")

    def get_object(self):
        return selectors.malignancy_get(user=self.request.user, patient_pk=self.kwargs["patient_pk"],
                                        pk=self.kwargs["pk"])

    def get_success_url(self):
        return self.object.patient.get_absolute_url()
