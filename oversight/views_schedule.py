"""The visit schedule's pages: the due-and-overdue list (``/oversight/schedule/``), the
user's calendar-feed page (``/oversight/calendar/``) and the feed itself
(``/oversight/calendar/<token>.ics``: no session, the secret in the address).

The feed's language: the one of the page that showed its address (``?lang=`` in the
address, e.g. ``fr``), else the source language. ``accounts.languages.language_of`` the
token's owner would cost the feed one more query (the profile) than its pinned count."""

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.utils.cache import add_never_cache_headers
from django.utils.decorators import method_decorator
from django.views import View

from accounts import services as account_services
from accounts.languages import SOURCE_LANGUAGE, supported
from accounts.models import CalendarToken
from accounts.scoping import access_for, may

from visits import rules

from .filters import ScheduleWorkFilterSet
from .models import AccessEvent, AccessKind
from .schedule import calendar_ics, due_and_overdue, planned_cycles, with_state
from .views_worklists import WorkListView


class ScheduleWorkListView(WorkListView):
    """Patients whose next cycle is due (in its window today) or overdue (window closed),
    the most overdue first: the roles that follow patients, at their sites (study-wide
    roles: all sites, or the one chosen)."""

    permission_required = "visits.view_treatmentcycle"
    template_name = "oversight/schedule_worklist.html"
    context_object_name = "patients"
    filterset_class = ScheduleWorkFilterSet
    title = gettext_lazy("Cycles due and overdue")

    def rows(self):
        self.today = timezone.localdate()
        return due_and_overdue(self.request.user, today=self.today)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        with_state(context["patients"], today=self.today)
        user = self.request.user
        context.update(today=self.today, interval_days=rules.CYCLE_INTERVAL_DAYS, window_days=rules.CYCLE_WINDOW_DAYS,
                       can_record=may(user, "visits.add_treatmentcycle"),
                       can_record_missed=may(user, "visits.add_missedcycle"))
        return context


class CalendarView(View):
    """The user's calendar feed: its address (shown once, when created), regenerate, revoke."""

    template_name = "oversight/calendar.html"

    def dispatch(self, request, *args, **kwargs):
        if not access_for(request.user).roles:
            raise PermissionDenied(_("Only study staff have a calendar feed."))
        return super().dispatch(request, *args, **kwargs)

    def render(self, request, new_token=None):
        active = CalendarToken.objects.active().filter(user=request.user).first()
        # The feed speaks the language of this page (a calendar program sends no preference).
        feed_url = (request.build_absolute_uri(reverse("oversight:calendar_feed", args=[new_token]))
                    + f"?lang={translation.get_language() or SOURCE_LANGUAGE}"
                    if new_token else "")
        response = render(request, self.template_name, {
            "title": _("Your calendar feed"), "active": active, "feed_url": feed_url})
        add_never_cache_headers(response)
        return response

    def get(self, request):
        return self.render(request)

    def post(self, request):
        action = request.POST.get("action")
        if action == "create":
            _created, token = account_services.calendar_token_create(user=request.user, request=request)
            return self.render(request, new_token=token)
        if action == "revoke":
            revoked = account_services.calendar_tokens_revoke(user=request.user, by=request.user, request=request)
            if revoked:
                messages.success(request, _("Calendar feed address revoked: calendars using it get nothing from now on."))
            else:
                messages.warning(request, _("You had no calendar feed address."))
        return redirect("oversight:calendar")


@method_decorator(login_not_required, name="dispatch")
class CalendarFeedView(View):
    """``GET /oversight/calendar/<token>.ics``: the planned cycles of the token owner's
    current sites (an iCalendar). Unknown or revoked token, or a deactivated user: 404.
    Each fetch is an access event."""

    http_method_names = ["get", "head"]

    def get(self, request, token):
        user = account_services.calendar_token_owner(token)
        if user is None or not access_for(user).roles:
            raise Http404("No such calendar.")
        rows = list(planned_cycles(user))
        with translation.override(supported(request.GET.get("lang")) or SOURCE_LANGUAGE):
            body = calendar_ics(rows, name=_("IVIG trial: planned cycles"))
        AccessEvent.objects.record(kind=AccessKind.CALENDAR_FEED, request=request, user=user,
                                   detail={"events": len(rows)})
        response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
        response["Content-Disposition"] = 'inline; filename="ivig-planned-cycles.ics"'
        add_never_cache_headers(response)
        return response
