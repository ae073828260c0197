"""The work lists the dashboard's counts link to: every cycle or casebook of the
user's sites with its review state, filterable and paginated (50 a page), in a
constant number of queries whatever the cohort size."""

from django import forms
from django.utils.translation import gettext_lazy as _
from django.views.generic import ListView, TemplateView

from accounts.mixins import PermissionRequiredMixin

from .completeness import completeness
from .filters import CasebookWorkFilterSet, CycleWorkFilterSet
from .worklists import casebook_worklist, cycle_worklist


class WorkListView(PermissionRequiredMixin, ListView):
    raise_exception = True
    paginate_by = 50
    filterset_class = None
    title = ""

    def rows(self):
        raise NotImplementedError

    def get_queryset(self):
        self.filterset = self.filterset_class(self.request.GET, queryset=self.rows(), request=self.request)
        for field in self.filterset.form.fields.values():  # the page's small Bootstrap controls
            select = isinstance(field.widget, forms.Select)
            field.widget.attrs["class"] = "form-select form-select-sm" if select else "form-control form-control-sm"
        return self.filterset.qs

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        query = self.request.GET.copy()
        query.pop("page", None)
        context.update(title=self.title, filter_form=self.filterset.form, filter_errors=self.filterset.errors,
                       query_string=query.urlencode())
        return context


class CycleWorkListView(WorkListView):
    """``/oversight/cycles/``: cycles awaiting signature, not source-verified, locked..."""

    permission_required = "visits.view_treatmentcycle"
    template_name = "oversight/cycle_worklist.html"
    context_object_name = "cycles"
    filterset_class = CycleWorkFilterSet
    title = _("Treatment cycles")

    def rows(self):
        return cycle_worklist(self.request.user)


class CasebookWorkListView(WorkListView):
    """``/oversight/casebooks/``: casebooks awaiting signature, locked..."""

    permission_required = "patients.view_patient"
    template_name = "oversight/casebook_worklist.html"
    context_object_name = "casebooks"
    filterset_class = CasebookWorkFilterSet
    title = _("Casebooks")

    def rows(self):
        return casebook_worklist(self.request.user)


class CompletenessView(PermissionRequiredMixin, TemplateView):
    """Per form and optional field: records without a value, with the reason
    (missing-data codes) or blank (``oversight.completeness``)."""

    raise_exception = True
    permission_required = "visits.view_assessment"
    template_name = "oversight/completeness.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(title=_("Completeness"), forms=completeness(self.request.user))
        return context
