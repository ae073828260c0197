"""``/edit-checks/``: every check, its switch, its queries' counts and the last nightly run
(every study role reads it, the counts scoped to the user's sites); an administrator switches
a check off or on with a reason."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.generic import FormView, TemplateView

from accounts.mixins import PermissionRequiredMixin
from accounts.scoping import may
from core.forms import add_validation_error

from . import selectors, services
from .checks import BY_ID
from .forms import SwitchForm


class CheckListView(PermissionRequiredMixin, TemplateView):
    permission_required = "editchecks.view_editchecksetting"
    raise_exception = True
    template_name = "editchecks/editcheck_list.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        rows, last_run = selectors.check_rows(user=self.request.user)
        context.update(rows=rows, last_run=last_run, nav_section="queries",
                       can_switch=may(self.request.user, "editchecks.change_editchecksetting"))
        return context


class CheckSwitchView(PermissionRequiredMixin, FormView):
    """Switch one check off (or on again), with the reason."""

    permission_required = "editchecks.change_editchecksetting"
    raise_exception = True
    template_name = "editchecks/editcheck_switch.html"
    form_class = SwitchForm

    def dispatch(self, request, *args, **kwargs):
        self.check = BY_ID.get(kwargs["check_id"])
        if self.check is None:
            raise Http404
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        rows, _last_run = selectors.check_rows(user=self.request.user)
        row = next(row for row in rows if row.check.id == self.check.id)
        context.update(row=row, check=self.check, nav_section="queries")
        return context

    def form_valid(self, form):
        enabled = self.check.id in services.switched_off()  # off now: switch it on
        try:
            services.check_switch(check_id=self.check.id, enabled=enabled, reason=form.cleaned_data["reason"],
                                  user=self.request.user)
        except ValidationError as exc:
            add_validation_error(form, exc)
            return self.form_invalid(form)
        if enabled:
            messages.success(self.request, _("Check %(id)s switched on; it runs over the cohort now.")
                             % {"id": self.check.id})
        else:
            messages.success(self.request, _("Check %(id)s switched off; its open queries were closed.")
                             % {"id": self.check.id})
        return redirect("editchecks:check_list")
