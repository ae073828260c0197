from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.generic import ListView, TemplateView

from accounts.mixins import PermissionRequiredMixin
from accounts.roles import Role
from accounts.scoping import access_for, may
from core.crf import histories
from core.selectors import review_state
from core.views import ActionFormView, RecordFormView, VoidView
from patients.views import PatientChildMixin, PatientRecordViewMixin

from . import selectors, services
from .casebook import casebook_get
from .filters import AdverseEventFilterSet
from .forms import AdverseEventFollowUpForm, AdverseEventForm
from .models import AdverseEvent, AdverseEventFollowUp


class PatientAEMixin(PatientChildMixin):
    """Adverse-event pages hang off a patient and return to the timeline."""

    def get_success_url(self):
        return reverse("visits:timeline", args=[self.get_patient().pk])


class AdverseEventCreateView(PatientAEMixin, RecordFormView):
    model = AdverseEvent
    form_class = AdverseEventForm
    permission_required = "safety.add_adverseevent"
    success_message = gettext_lazy("Adverse event recorded.")
    template_name = "safety/adverseevent_create.html"

    def get_object(self):
        return None

    def get_title(self):
        return _("Report an adverse event for %(subject)s") % {"subject": self.get_patient().subject_id}

    def form_valid(self, form):
        response = super().form_valid(form)
        if self.object is not None and self.object.serious:
            from django.contrib import messages
            messages.warning(self.request, _("Serious adverse event: flagged for expedited review "
                                             "within 24 hours."))
        return response


class AdverseEventUpdateView(PatientAEMixin, RecordFormView):
    model = AdverseEvent
    form_class = AdverseEventForm
    permission_required = "safety.change_adverseevent"
    success_message = gettext_lazy("Adverse event corrected.")

    def get_object(self):
        return selectors.adverse_event_get(user=self.request.user, patient_pk=self.kwargs["patient_pk"],
                                           pk=self.kwargs["pk"])

    def get_title(self):
        return _("Adverse event of %(subject)s: %(term)s") % {"subject": self.get_patient().subject_id,
                                                               "term": self.object.term}

    template_name = "safety/adverseevent_form.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        event = self.object
        event.actions = selectors.adverse_event_actions(user=self.request.user, event=event)
        context.update(event=event, follow_ups=list(event.follow_ups.select_related("entered_by")))
        return context


class AdverseEventFollowUpView(ActionFormView):
    """Add a follow-up from the adverse event's own page (site staff: the review page
    is the monitors'), through ``safety.services.adverse_event_follow_up``."""

    permission_required = "safety.add_adverseeventfollowup"
    form_class = AdverseEventFollowUpForm
    template_name = "safety/adverseevent_follow_up.html"
    success_message = gettext_lazy("Follow-up added.")

    def get_object(self):
        event = selectors.adverse_event_get(user=self.request.user, patient_pk=self.kwargs["patient_pk"],
                                            pk=self.kwargs["pk"])
        event.actions = selectors.adverse_event_actions(user=self.request.user, event=event)
        if not event.actions.follow_up:
            raise PermissionDenied(_("This adverse event takes no follow-up now (voided, resolved or locked), "
                                     "or your role at its site does not add one."))
        return event

    @property
    def title(self):
        return _("Follow-up of %(term)s (%(subject)s)") % {"term": self.object.term,
                                                         "subject": self.object.patient.subject_id}

    def get_initial(self):
        return {}

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        kwargs["instance"] = AdverseEventFollowUp(adverse_event=self.object, entered_by=self.request.user)
        return kwargs

    def perform(self, form):
        follow_up = services.adverse_event_follow_up(adverse_event=self.object, user=self.request.user,
                                                     **form.cleaned_data)
        if follow_up.resolves:
            self.success_message = _("Follow-up added: the event is resolved.")

    def get_success_url(self):
        return self.object.get_absolute_url()

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(event=self.object, patient=self.object.patient,
                       follow_ups=list(self.object.follow_ups.select_related("entered_by")))
        return context


class AdverseEventVoidView(VoidView):
    permission_required = "safety.change_adverseevent"
    title = gettext_lazy("Void an adverse event entered in error")
    success_message = gettext_lazy("Adverse event voided; it stays in the record.")

    def get_object(self):
        event = selectors.adverse_event_get(user=self.request.user, patient_pk=self.kwargs["patient_pk"],
                                            pk=self.kwargs["pk"])
        # As the follow-up: no form for what the service would refuse (the AE page shows no button).
        if not selectors.adverse_event_actions(user=self.request.user, event=event).void:
            raise PermissionDenied(_("This adverse event cannot be voided now (already voided, or its "
                                     "casebook is locked), or your role at its site does not void one."))
        return event

    def get_success_url(self):
        return reverse("visits:timeline", args=[self.object.patient_id])


class AdverseEventListView(PermissionRequiredMixin, ListView):
    """Study-wide AE list, scoped to the user's sites; ``?serious=1`` gives the SAE list."""

    permission_required = "safety.view_adverseevent"
    raise_exception = True
    template_name = "safety/adverseevent_list.html"
    context_object_name = "adverse_events"
    paginate_by = 50

    def get_queryset(self):
        self.filterset = AdverseEventFilterSet(
            self.request.GET, queryset=selectors.adverse_event_list(user=self.request.user), request=self.request)
        return self.filterset.qs

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        query = self.request.GET.copy()
        query.pop("page", None)
        for event in context["adverse_events"]:  # the buttons of each row: no query (roles cached)
            event.actions = selectors.adverse_event_actions(user=self.request.user, event=event)
        context.update(sites=self.filterset.form.fields["site"].queryset, selected=self.filterset.selected, filter_errors=self.filterset.errors,
                       query_string=query.urlencode(),
                       grades=[1, 2, 3, 4, 5])
        return context


class AdverseEventDetailView(PatientRecordViewMixin, TemplateView):
    """An adverse event and its follow-ups as read-only forms, for every role that may view
    it (voided events too): values, the SAE clock, review, queries and the full history."""

    view_permission = "safety.view_adverseevent"
    template_name = "safety/adverseevent_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        patient, user = self.patient, self.request.user
        event = selectors.adverse_event_with_follow_ups(patient=patient, pk=self.kwargs["pk"])
        event.patient = patient
        history = histories(selectors.safety_history_rows(patient, event))
        event.actions = selectors.adverse_event_actions(user=user, event=event)
        context.update(
            patient=patient, event=event, review=review_state(patient),
            event_block=selectors.event_forms(event, history),
            can_edit=event.actions.edit,
            can_review=may(user, "safety.review_adverseevent", site_id=patient.site_id),
            title=_("Adverse event of %(subject)s: %(term)s") % {"subject": patient.subject_id, "term": event.term},
        )
        return context


class CasebookView(PatientRecordViewMixin, TemplateView):
    """A patient's whole casebook as read-only forms, in visit order, with each form's review
    state and history and the casebook's own signature and lock: a constant number of
    queries whatever the number of cycles and adverse events."""

    view_permission = "patients.view_patient"
    template_name = "safety/casebook.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        patient, user = self.patient, self.request.user
        site = patient.site_id
        context.update(
            patient=patient, casebook=casebook_get(patient),
            can_sign=may(user, "review.sign_record", site_id=site),
            can_lock=access_for(user).has_role(Role.ADMIN),
            title=_("Casebook of %(subject)s") % {"subject": patient.subject_id},
        )
        context["review"] = context["casebook"].review
        return context
