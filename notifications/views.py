"""Every logged-in user's notices and e-mail preferences (``LoginRequiredMiddleware``
keeps anonymous users out; each user sees only their own notices)."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import JsonResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views import View
from django.views.generic import FormView, ListView

from accounts.roles import Role
from accounts.scoping import access_for

from . import services
from .forms import MarkReadForm, PreferenceForm
from .models import Notice, NotificationPreference


class NoticeListView(ListView):
    """``/notifications/``: the user's notices, newest first, 50 a page, each written in the
    reader's language from its stored parameters (``Notice.text``; no query)."""

    template_name = "notifications/notice_list.html"
    context_object_name = "notices"
    paginate_by = 50

    def get_queryset(self):
        return Notice.objects.for_user(self.request.user).only(
            "pk", "kind", "stage", "subject", "body", "params", "link", "created_at", "read_at", "email_state", "user_id")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["unread_count"] = Notice.objects.for_user(self.request.user).unread().count()
        return context


class NoticeMarkReadView(View):
    """POST ``notice=<id>`` (one of one's own) or ``all=1``."""

    http_method_names = ["post"]

    def post(self, request):
        form = MarkReadForm(request.POST, user=request.user)
        if form.is_valid():
            services.notices_mark_read(user=request.user, notice=None if form.cleaned_data["all"]
                                       else form.cleaned_data["notice"])
        else:
            messages.error(request, " ".join(form.errors.get("notice", []) + form.non_field_errors()))
        return redirect("notifications:notice_list")


class UnreadCountView(View):
    """``{"unread": n}`` for the navigation's badge (static/js/notifications.js): the
    pages themselves run no query for it."""

    def get(self, request):
        return JsonResponse({"unread": Notice.objects.for_user(request.user).unread().count()})


class PreferenceView(FormView):
    """``/notifications/preferences/``: which notices come by e-mail."""

    template_name = "notifications/preference_form.html"
    form_class = PreferenceForm

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        kwargs["instance"] = (NotificationPreference.objects.filter(user=self.request.user).first()
                              or NotificationPreference(user=self.request.user))
        return kwargs

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["is_monitor"] = Role.MONITOR.value in access_for(self.request.user).roles
        context["has_address"] = bool(self.request.user.email)
        return context

    def form_valid(self, form):
        try:
            services.preference_save(user=self.request.user, **form.cleaned_data)
        except ValidationError as exc:
            for field, errors in exc.error_dict.items():
                for error in errors:
                    form.add_error(field if field in form.fields else None, error)
            return self.form_invalid(form)
        messages.success(self.request, _("Your notification preferences are saved."))
        return redirect("notifications:preferences")
