"""Locks, e-signatures, source data verification and data queries."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View
from django.utils.formats import date_format
from django.utils.timezone import localtime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.generic import DetailView, FormView, ListView, TemplateView

from accounts.languages import neutral
from accounts.mixins import PermissionRequiredMixin
from accounts.roles import Role
from accounts.scoping import access_for, may, scope_to_user_sites
from core import crf
from core.forms import add_validation_error
from patients import selectors as patient_selectors
from review import services as review_services
from review.selectors import review_state
from safety.casebook import casebook_get
from visits import selectors as visit_selectors
from review.models import DataQuery, QueryStatus
from visits.models import TreatmentCycle

from . import services, targets
from .filters import PENDING, DataQueryFilterSet
from .forms import (LockForm, QueryRaiseForm, QueryReplyForm, QueryTargetForm, SignForm,
                    UnlockForm, VerifyForm)


class AdminRoleRequired:
    """Locking is the administrator's act (role admin)."""

    def dispatch(self, request, *args, **kwargs):
        if not access_for(request.user).has_role(Role.ADMIN):
            raise PermissionDenied
        return super().dispatch(request, *args, **kwargs)


class RecordActionView(FormView):
    """A confirmation form about one cycle or one casebook, scoped to the user's sites."""

    template_name = "oversight/record_action.html"
    record_kind = "cycle"  # or "casebook"
    #: The page's title, with ``%(record)s`` (the record's label).
    title = "%(record)s"

    def dispatch(self, request, *args, **kwargs):
        self.check_access(request)
        if self.record_kind == "cycle":
            cycle = get_object_or_404(TreatmentCycle.objects.select_related("patient"), pk=kwargs["pk"])
            self.patient = patient_selectors.patient_get(user=request.user, pk=cycle.patient_id)
            self.record = cycle
        else:
            self.patient = patient_selectors.patient_get(user=request.user, pk=kwargs["pk"])
            self.record = self.patient
        self.check_access(request, site_id=self.patient.site_id)
        return super().dispatch(request, *args, **kwargs)

    #: The permission the action needs (None: the view checks access itself),
    #: held through a role at the patient's site or a study-wide role.
    action_permission = None
    refusal = ""

    def check_access(self, request, **site):
        if self.action_permission and not may(request.user, self.action_permission, **site):
            raise PermissionDenied(self.refusal)

    def record_label(self):
        """The record in words, in the active language (under ``neutral()``: for the trail)."""
        if self.record_kind == "cycle":
            return _("cycle %(number)s of %(subject_id)s") % {"number": self.record.number,
                                                               "subject_id": self.patient.subject_id}
        return _("the casebook of %(subject_id)s") % {"subject_id": self.patient.subject_id}

    def get_success_url(self):
        return reverse("visits:timeline", args=[self.patient.pk])

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(title=self.title % {"record": self.record_label()}, patient=self.patient, record=self.record,
                       record_kind=self.record_kind, cancel_url=self.get_success_url())
        return context

    def form_valid(self, form):
        try:
            message = self.perform(form)
        except ValidationError as exc:
            add_validation_error(form, exc)
            return self.form_invalid(form)
        messages.success(self.request, message)
        return redirect(self.get_success_url())


class SignView(RecordActionView):
    action_permission = "review.sign_record"
    refusal = gettext_lazy("Only an investigator of the patient's site signs its cycles and casebook.")
    form_class = SignForm
    title = gettext_lazy("Sign %(record)s")

    def perform(self, form):
        try:
            signature = review_services.record_sign(record=self.record, user=self.request.user,
                                             password=form.cleaned_data["password"], request=self.request)
        except review_services.SigningRefused as exc:
            with neutral():  # the access event's detail is stored: the source language
                what = self.record_label()
            services.log_failed_signing(self.request, what)
            raise ValidationError({"password": ValidationError(str(exc), code="wrong_password")}) from exc
        return _("Signed %(record)s: %(name)s, %(at)s, %(meaning)s.") % {
            "record": self.record_label(), "name": signature.signer_name,
            "at": date_format(localtime(signature.signed_at), "SHORT_DATETIME_FORMAT"),
            "meaning": signature.get_meaning_display()}

    def get_context_data(self, **kwargs):
        """What is signed, as the read-only forms (``core.crf``), above the password: the
        cycle's visit, assessment and infusions, or every form of the casebook."""
        context = super().get_context_data(**kwargs)
        if self.record_kind == "cycle":
            row = visit_selectors.cycle_row(self.patient, self.record.number)
            state = review_state(self.patient)
            state.attach_current_hashes(visit_selectors.timeline_review_hashes(self.patient, [row], state))
            context.update(review=state, cycle_block=visit_selectors.cycle_forms(row, {}),
                           signed_template="visits/includes/_cycle_forms.html")
        else:
            casebook = casebook_get(self.patient, with_history=False)
            context.update(review=casebook.review, casebook=casebook,
                           signed_template="safety/includes/_casebook_forms.html")
            try:  # said before the password is typed, not only after (the service refuses it too)
                review_services.casebook_signable(self.patient)
            except ValidationError as exc:
                context["sign_blocked"] = " ".join(exc.messages)
        return context


class LockView(AdminRoleRequired, RecordActionView):
    form_class = LockForm
    title = gettext_lazy("Lock %(record)s")

    def perform(self, form):
        services.record_lock(record=self.record, user=self.request.user, reason=form.cleaned_data["reason"])
        return _("Locked %(record)s: edits are refused until it is unlocked.") % {"record": self.record_label()}


class UnlockView(AdminRoleRequired, RecordActionView):
    form_class = UnlockForm
    title = gettext_lazy("Unlock %(record)s")

    def perform(self, form):
        services.record_unlock(record=self.record, user=self.request.user, reason=form.cleaned_data["reason"])
        return _("Unlocked %(record)s.") % {"record": self.record_label()}


class VerifyView(RecordActionView):
    action_permission = "review.verify_source"
    refusal = gettext_lazy("Only a monitor verifies source data.")
    form_class = VerifyForm
    title = gettext_lazy("Source data verification of %(record)s")

    def perform(self, form):
        review_services.cycle_verify(cycle=self.record, user=self.request.user)
        return _("Source data of %(record)s marked verified.") % {"record": self.record_label()}


def safe_next(request, default):
    """The page to go back to: ``next`` (POST or GET) when it is a URL of this site, else ``default``."""
    target = request.POST.get("next") or request.GET.get("next")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                                  require_https=request.is_secure()):
        return target
    return default


class RecordVerifyView(View):
    """Mark one form or one field of a patient's record verified (POST ``target``
    ``<model>:<pk>:<field>``, field empty: the whole form; see ``oversight.targets``),
    then go back to the page it came from (a safe ``next``)."""

    http_method_names = ["post"]

    def dispatch(self, request, *args, **kwargs):
        # Scope first (another site's patient is a 404 whatever the method), then the method.
        if not may(request.user, "review.verify_source"):
            raise PermissionDenied(_("Only a monitor verifies source data."))
        self.patient = patient_selectors.patient_get(user=request.user, pk=kwargs["patient_pk"])
        if not may(request.user, "review.verify_source", site_id=self.patient.site_id):
            raise PermissionDenied(_("Only a monitor verifies source data."))
        return super().dispatch(request, *args, **kwargs)

    def post(self, request, *args, **kwargs):
        patient = self.patient
        back = safe_next(request, reverse("visits:timeline", args=[patient.pk]))
        resolved = targets.resolve(patient, request.POST.get("target", ""))
        if resolved is None:
            messages.error(request, _("Choose a form or a field of this patient's records."))
            return redirect(back)
        record, field_name, field_label, record_label, _cycle = resolved
        try:
            review_services.record_verify(record=record, user=request.user, field_name=field_name)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            what = (_("%(field)s of %(record)s") % {"field": field_label, "record": record_label}
                    if field_name else record_label)
            messages.success(request, _("Source data verified: %(what)s.") % {"what": what})
        return redirect(back)


# --- Data queries ------------------------------------------------------------

def _scoped_queries(user):
    return scope_to_user_sites(DataQuery.objects.select_related("patient", "raised_by"), user,
                               site_field="patient__site")


class QueryListView(PermissionRequiredMixin, ListView):
    permission_required = "review.view_dataquery"
    raise_exception = True
    template_name = "oversight/query_list.html"
    context_object_name = "queries"
    paginate_by = 50

    def get_queryset(self):
        data = self.request.GET.copy()
        data.setdefault("status", PENDING)  # no status at all: open or answered (waiting for someone); ?status=: all
        self.filterset = DataQueryFilterSet(data, queryset=_scoped_queries(self.request.user).order_by("-updated_at", "-pk"),
                                            request=self.request)
        self.status = self.filterset.filters_applied.get("status", "")
        return self.filterset.qs

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        query = self.request.GET.copy()
        query.pop("page", None)
        context.update(statuses=self.filterset.form.fields["status"].choices[1:], status=self.status,
                       sites=self.filterset.form.fields["site"].queryset,
                       selected=self.filterset.selected, filter_errors=self.filterset.errors,
                       query_string=query.urlencode())
        return context


class QueryRaiseView(PermissionRequiredMixin, FormView):
    """Raise a query on a record of one patient (``?patient=<id>[&cycle=<n>]``)."""

    permission_required = "review.raise_query"
    raise_exception = True
    template_name = "oversight/record_action.html"
    form_class = QueryRaiseForm

    def dispatch(self, request, *args, **kwargs):
        if not self.has_permission():
            return self.handle_no_permission()
        target = QueryTargetForm(request.GET).filters
        if "patient" not in target:
            raise PermissionDenied
        self.patient = patient_selectors.patient_get(user=request.user, pk=target["patient"])
        if not may(request.user, "review.raise_query", site_id=self.patient.site_id):
            raise PermissionDenied(_("Only a monitor raises data queries."))
        self.cycle = None
        self.preselected = None
        resolved = targets.resolve(self.patient, request.GET.get("target", ""))
        if resolved is not None:
            self.preselected = request.GET["target"]
            if resolved[4] is not None and "cycle" not in target:
                target["cycle"] = resolved[4]
        if "cycle" in target:
            self.cycle = get_object_or_404(TreatmentCycle, patient=self.patient, number=target["cycle"])
        return super().dispatch(request, *args, **kwargs)

    def get_initial(self):
        initial = super().get_initial()
        if self.preselected:
            initial["target"] = self.preselected
        return initial

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        kwargs["targets"] = (targets.cycle_targets(self.cycle) if self.cycle
                             else targets.patient_targets(self.patient))
        return kwargs

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        if self.cycle:
            title = _("Raise a data query on cycle %(number)s of %(subject_id)s") % {
                "number": self.cycle.number, "subject_id": self.patient.subject_id}
        else:
            title = _("Raise a data query on %(subject_id)s") % {"subject_id": self.patient.subject_id}
        context.update(title=title, patient=self.patient,
                       cancel_url=safe_next(self.request, reverse("visits:timeline", args=[self.patient.pk])),
                       next=safe_next(self.request, ""))
        return context

    def form_valid(self, form):
        with neutral():  # the query stores its record's and field's labels: the source language
            resolved = targets.resolve(self.patient, form.cleaned_data["target"])
        if resolved is None:
            form.add_error("target", _("Choose a record of this patient."))
            return self.form_invalid(form)
        record, field_name, field_label, record_label, cycle_number = resolved
        query = review_services.query_raise(record=record, field_name=field_name, field_label=field_label,
                                     record_label=record_label, question=form.cleaned_data["question"],
                                     user=self.request.user, cycle_number=cycle_number)
        messages.success(self.request, _("Query raised; the site sees it on the patient's pages."))
        return redirect(safe_next(self.request, reverse("oversight:query_detail", args=[query.pk])))


class QueryDetailView(PermissionRequiredMixin, DetailView):
    """The thread, and the actions the user's role allows: answer (site), close
    or re-open (monitor)."""

    permission_required = "review.view_dataquery"
    raise_exception = True
    template_name = "oversight/query_detail.html"
    context_object_name = "query"

    def get_queryset(self):
        return _scoped_queries(self.request.user).select_related("content_type").prefetch_related("messages__author")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user, site = self.request.user, self.object.patient.site_id
        query = self.object
        record = query.record  # one query: the record the question is about
        context.update(
            current_value=(crf.display(record, query.field_name)
                           if record is not None and query.field_name else None),
            record_anchor=(f"f-{query.content_type.model}-{query.object_id}-{query.field_name}" if query.field_name
                           else f"crf-{query.content_type.model}-{query.object_id}"))
        context.update(form=kwargs.get("form") or QueryReplyForm(),
                       can_answer=may(user, "review.answer_query", site_id=site)
                       and self.object.status == QueryStatus.OPEN,
                       can_close=may(user, "review.raise_query", site_id=site)
                       and self.object.status != QueryStatus.CLOSED,
                       can_reopen=may(user, "review.raise_query", site_id=site)
                       and self.object.status != QueryStatus.OPEN)
        return context

    def post(self, request, *args, **kwargs):
        self.object = self.get_object()
        action = request.POST.get("action")
        needed = {"answer": "review.answer_query", "close": "review.raise_query", "reopen": "review.raise_query"}
        if action not in needed:
            return redirect("oversight:query_detail", pk=self.object.pk)
        if not may(request.user, needed[action], site_id=self.object.patient.site_id):
            raise PermissionDenied(_("Only the staff of the patient's site answer a data query; "
                                     "only a monitor closes or re-opens it."))
        form = QueryReplyForm(request.POST)
        if form.is_valid():
            service = {"answer": review_services.query_answer, "close": review_services.query_close,
                       "reopen": review_services.query_reopen}[action]
            try:
                service(query=self.object, user=request.user, text=form.cleaned_data["text"])
            except ValidationError as exc:
                add_validation_error(form, exc)
            else:
                messages.success(request, {"answer": _("Answer sent."), "close": _("Query closed."),
                                           "reopen": _("Query re-opened.")}[action])
                return redirect("oversight:query_detail", pk=self.object.pk)
        return self.render_to_response(self.get_context_data(form=form))


class QueryAnswerView(View):
    """Answer a query in one step from the field it is about (the edit forms): POST
    ``text``; back to ``next`` (the edit form), or JSON for the page's script
    (``static/js/query_answer.js``), which keeps what the user typed in the main form."""

    http_method_names = ["post"]

    def dispatch(self, request, *args, **kwargs):
        # Scope first (another site's query is a 404 whatever the method), then the method.
        self.query = get_object_or_404(_scoped_queries(request.user), pk=kwargs["pk"])
        if not may(request.user, "review.answer_query", site_id=self.query.patient.site_id):
            raise PermissionDenied(_("Only the staff of the patient's site answer its data queries."))
        return super().dispatch(request, *args, **kwargs)

    def post(self, request, *args, **kwargs):
        query = self.query
        wants_json = request.headers.get("Accept", "").startswith("application/json")
        form = QueryReplyForm(request.POST)
        error = None
        if form.is_valid():
            try:
                review_services.query_answer(query=query, user=request.user, text=form.cleaned_data["text"])
            except ValidationError as exc:
                error = " ".join(exc.messages)
        else:
            error = " ".join(message for errors in form.errors.values() for message in errors)
        if wants_json:
            return JsonResponse({"ok": error is None, "error": error or "", "status": query.get_status_display()},
                                status=200 if error is None else 400)
        if error:
            messages.error(request, _("The answer was not sent: %(error)s") % {"error": error})
        else:
            messages.success(request, _("Answer sent."))
        return redirect(safe_next(request, reverse("oversight:query_detail", args=[query.pk])))


class DashboardView(TemplateView):
    """The home page: each role's work list (see ``oversight.dashboard``)."""

    template_name = "oversight/dashboard.html"

    def get_context_data(self, **kwargs):
        from .dashboard import dashboard

        context = super().get_context_data(**kwargs)
        context["sections"] = dashboard(self.request.user)
        return context
