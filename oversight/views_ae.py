"""Adverse-event review: the serious-event queue, the review page (acknowledge,
medical review, follow-up) and the AE listing with its CSV export.

Reads are scoped to the user's sites; writes go through ``safety.services``.
"""

import csv
from datetime import timezone as dt_timezone

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View
from django.views.generic import ListView, TemplateView

from accounts.mixins import PermissionRequiredMixin
from accounts.scoping import may, scope_to_user_sites
from core.forms import add_validation_error
from core.services import StaleRecordError
from safety import rules, services
from safety.filters import AdverseEventListingFilterSet
from safety.models import AdverseEvent, AdverseEventFollowUp, AdverseEventReview, ReviewKind

from accounts.languages import neutral_iter
from .forms_ae import AcknowledgeForm, FollowUpForm, MedicalReviewForm
from exchange.exports.base import spreadsheet_safe as _cell

REVIEW_PERMISSION = "safety.review_adverseevent"


# --- reads ---------------------------------------------------------------------

def _scoped(queryset, user):
    return scope_to_user_sites(queryset, user, site_field="patient__site")


def serious_queue(*, user, now):
    """The queue rows (one query), each with its ``clock`` (``rules.ReviewClock``)."""
    rows = list(_scoped(AdverseEvent.objects.serious_queue(now=now).with_review_state()
                        .select_related("patient", "patient__site", "reviewed_by"), user))
    for row in rows:
        # (No stored due time: a row written outside safety.services; no clock rather than an error.)
        row.clock = (rules.review_clock(due_at=row.report_due_at, now=now, reviewed_at=row.reviewed_at)
                     if row.report_due_at else None)
    return rows


def adverse_event_listing(*, user):
    """The current events of the user's sites with their review state, by patient and onset;
    the listing filters them with ``safety.filters.AdverseEventListingFilterSet``."""
    return (_scoped(AdverseEvent.objects.current().with_review_state()
                    .select_related("patient", "patient__site", "reviewed_by"), user)
            .order_by("patient__subject_id", "onset_date", "pk"))


def adverse_event_for_review(*, user, pk):
    """The event (voided ones too: their reviews stay readable), or 404 outside the user's sites."""
    qs = _scoped(AdverseEvent.objects.select_related("patient", "patient__site", "infusion",
                                                     "infusion__cycle", "reviewed_by"), user)
    return get_object_or_404(qs, pk=pk)


def _listing(request):
    return AdverseEventListingFilterSet(request.GET, queryset=adverse_event_listing(user=request.user),
                                        request=request)


# --- the queue -----------------------------------------------------------------

class SeriousEventQueueView(PermissionRequiredMixin, TemplateView):
    """Unreviewed serious events first, earliest due first; then those reviewed recently."""

    permission_required = REVIEW_PERMISSION
    raise_exception = True
    template_name = "oversight/ae_queue.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        now = timezone.now()
        rows = serious_queue(user=self.request.user, now=now)
        context.update(
            now=now, awaiting=[r for r in rows if r.reviewed_at is None],
            reviewed=[r for r in rows if r.reviewed_at is not None],
            recent_days=rules.QUEUE_RECENT_WINDOW.days,
            window_hours=int(rules.EXPEDITED_REVIEW_WINDOW.total_seconds() // 3600),
        )
        return context


# --- one event: review and follow-up ---------------------------------------------

class AdverseEventReviewPageView(PermissionRequiredMixin, TemplateView):
    """The event with its reviews and follow-ups, and the forms the user may use.

    Reading needs ``safety.view_adverseevent`` (clinicians: own sites only);
    each action below checks its own permission.
    """

    permission_required = "safety.view_adverseevent"
    raise_exception = True
    template_name = "oversight/ae_detail.html"

    def dispatch(self, request, *args, **kwargs):
        if not self.has_permission():
            return self.handle_no_permission()
        self.object = adverse_event_for_review(user=request.user, pk=kwargs["pk"])
        return super().dispatch(request, *args, **kwargs)

    # One factory per form, so an action view can rebuild the page around its bound form.
    def acknowledge_form(self, data=None):
        return AcknowledgeForm(data, prefix="ack", action=self._url("oversight:ae_acknowledge"),
                               instance=AdverseEventReview(adverse_event=self.object, reviewer=self.request.user,
                                                           kind=ReviewKind.ACKNOWLEDGEMENT))

    def review_form(self, data=None):
        return MedicalReviewForm(data, prefix="review", action=self._url("oversight:ae_review"),
                                 initial={"event_version": self.object.version},
                                 instance=AdverseEventReview(adverse_event=self.object, reviewer=self.request.user,
                                                             kind=ReviewKind.MEDICAL_REVIEW))

    def follow_up_form(self, data=None):
        return FollowUpForm(data, prefix="fu", action=self._url("oversight:ae_follow_up"),
                            instance=AdverseEventFollowUp(adverse_event=self.object, entered_by=self.request.user))

    def _url(self, name):
        return reverse(name, args=[self.object.pk])

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        event, user = self.object, self.request.user
        reviews = list(event.reviews.select_related("reviewer"))
        follow_ups = list(event.follow_ups.select_related("entered_by"))
        acknowledgement = next((r for r in reviews if r.kind == ReviewKind.ACKNOWLEDGEMENT), None)
        open_event = event.voided_at is None
        site = event.patient.site_id
        can_review = open_event and may(user, REVIEW_PERMISSION, site_id=site)
        can_follow_up = (open_event and not rules.is_resolved(event.outcome)
                         and may(user, "safety.add_adverseeventfollowup", site_id=site))
        if can_review and acknowledgement is None and event.reviewed_at is None:
            context.setdefault("acknowledge_form", self.acknowledge_form())
        if can_review:
            context.setdefault("review_form", self.review_form())
        if can_follow_up:
            context.setdefault("follow_up_form", self.follow_up_form())
        context.update(
            event=event, reviews=reviews, follow_ups=follow_ups, acknowledgement=acknowledgement,
            resolved=rules.is_resolved(event.outcome),
            clock=(rules.review_clock(due_at=event.report_due_at, now=timezone.now(),
                                      reviewed_at=event.reviewed_at) if event.serious and event.report_due_at else None),
            can_see_queue=may(user, REVIEW_PERMISSION),
        )
        return context


class _AdverseEventActionView(AdverseEventReviewPageView):
    """POST one form of the review page; on an error the page comes back with it."""

    http_method_names = ["post"]
    action_permission = ""
    form_context_name = ""
    success_message = ""

    def has_permission(self):
        return super().has_permission() and may(self.request.user, self.action_permission)

    def post(self, request, *args, **kwargs):
        if not may(request.user, self.action_permission, site_id=self.object.patient.site_id):
            raise PermissionDenied(_("Your role at the patient's site does not allow this."))
        return self.post_form(request)

    def build_form(self, data):
        raise NotImplementedError

    def perform(self, form):
        raise NotImplementedError

    def post_form(self, request):
        form = self.build_form(request.POST)
        if form.is_valid():
            try:
                self.perform(form)
            except ValidationError as exc:
                add_validation_error(form, exc)
            except StaleRecordError:
                form.add_error(None, ValidationError(
                    _("The adverse event was changed after you opened this page; nothing was saved. "
                      "Reload the page, read the current entry and review it again."), code="stale"))
            else:
                messages.success(request, self.success_message)
                return redirect("oversight:ae_detail", pk=self.object.pk)
        return self.render_to_response(self.get_context_data(**{self.form_context_name: form}))


class AcknowledgeView(_AdverseEventActionView):
    action_permission = REVIEW_PERMISSION
    form_context_name = "acknowledge_form"
    success_message = gettext_lazy("Adverse event acknowledged; the medical review is still due.")

    def build_form(self, data):
        return self.acknowledge_form(data)

    def perform(self, form):
        services.adverse_event_acknowledge(adverse_event=self.object, user=self.request.user,
                                           comment=form.cleaned_data["comment"])


class MedicalReviewView(_AdverseEventActionView):
    action_permission = REVIEW_PERMISSION
    form_context_name = "review_form"
    success_message = gettext_lazy("Medical review recorded.")

    def build_form(self, data):
        return self.review_form(data)

    def perform(self, form):
        data = form.cleaned_data
        services.adverse_event_review(
            adverse_event=self.object, user=self.request.user, comment=data["comment"],
            reviewer_relatedness=data["reviewer_relatedness"],
            agrees_with_seriousness=data["agrees_with_seriousness"], expected_version=data["event_version"])


class FollowUpView(_AdverseEventActionView):
    action_permission = "safety.add_adverseeventfollowup"
    form_context_name = "follow_up_form"
    success_message = gettext_lazy("Follow-up added.")

    def build_form(self, data):
        return self.follow_up_form(data)

    def perform(self, form):
        follow_up = services.adverse_event_follow_up(adverse_event=self.object, user=self.request.user,
                                                     **form.cleaned_data)
        if follow_up.resolves:
            self.success_message = _("Follow-up added: the event is resolved.")


# --- the listing and its export ----------------------------------------------------

class AdverseEventListingView(PermissionRequiredMixin, ListView):
    permission_required = "safety.view_adverseevent"
    raise_exception = True
    template_name = "oversight/ae_listing.html"
    context_object_name = "adverse_events"
    paginate_by = 50

    def get_queryset(self):
        self.filterset = _listing(self.request)
        return self.filterset.qs

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        query = self.request.GET.copy()
        query.pop("page", None)
        context.update(filter_form=self.filterset.form, query_string=query.urlencode())
        return context


EXPORT_COLUMNS = ("subject_id", "site", "term", "onset_date", "end_date", "grade", "serious",
                  "seriousness_criteria", "relatedness", "reviewer_relatedness", "action_taken", "outcome",
                  "entered_at", "reviewed_at", "reviewed_by")


def _utc(moment):
    return moment.astimezone(dt_timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z") if moment else ""


def export_row(event):
    return [
        event.patient.subject_id, event.patient.site.code, event.term, event.onset_date.isoformat(),
        event.end_date.isoformat() if event.end_date else "", event.grade, "yes" if event.serious else "no",
        "; ".join(event.criteria_labels), event.get_relatedness_display(),
        event.reviewer_relatedness_label, event.get_action_taken_display(),
        event.get_outcome_display(), _utc(event.created_at), _utc(event.reviewed_at),
        event.reviewed_by.get_username() if event.reviewed_by else "",
    ]


class _Echo:
    def write(self, value):
        return value


def csv_lines(events):
    """The export as CSV lines, one per event, read from the database in chunks."""
    writer = csv.writer(_Echo(), lineterminator="\r\n")
    yield writer.writerow(EXPORT_COLUMNS)
    for event in events.iterator(chunk_size=500):
        yield writer.writerow([_cell(value) for value in export_row(event)])


class AdverseEventListingExportView(PermissionRequiredMixin, View):
    """Every row of the filtered listing as CSV (UTF-8, header row, times in UTC), streamed,
    in the source language whatever the user's (an export: ``neutral_iter``)."""

    permission_required = "safety.view_adverseevent"
    raise_exception = True

    def get(self, request):
        events = _listing(request).qs
        response = StreamingHttpResponse(neutral_iter(csv_lines(events)), content_type="text/csv; charset=utf-8")
        stamp = timezone.now().astimezone(dt_timezone.utc).strftime("%Y%m%dT%H%MZ")
        response["Content-Disposition"] = f'attachment; filename="adverse-events-{stamp}.csv"'
        return response

