from django.contrib.auth.mixins import PermissionRequiredMixin
from django.http import HttpResponseBadRequest, StreamingHttpResponse
from django.views import View
from django.views.generic import TemplateView

from accounts.models import Site
from accounts.scoping import scope_to_user_sites

from . import datasets, plots, rules, selectors
from .exports import FORMATS, UnknownFormat
from .forms import ReportFilterForm
from .models import ExportLog
from .services import export_cohort, export_stamp


def _filters(request, sites):
    code = request.GET.get("site") or None
    site = sites.filter(code=code).first() if code else None
    diagnosis = request.GET.get("diagnosis") if request.GET.get("diagnosis") in ("PM", "DM") else None
    return site, diagnosis


class ExportPageView(PermissionRequiredMixin, TemplateView):
    permission_required = "reporting.export_cohort"
    raise_exception = True
    template_name = "reporting/exports.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["formats"] = FORMATS.values()
        context["sites"] = scope_to_user_sites(Site.objects.all(), self.request.user, site_field="pk")
        if self.request.user.has_perm("reporting.view_exportlog"):
            context["export_log"] = ExportLog.objects.select_related("user")[:50]
        return context


class ExportDownloadView(PermissionRequiredMixin, View):
    """Stream one export; every download is logged first."""

    permission_required = "reporting.export_cohort"
    raise_exception = True

    def get(self, request):
        sites = scope_to_user_sites(Site.objects.all(), request.user, site_field="pk")
        site, diagnosis = _filters(request, sites)
        try:
            log, export_format, chunks = export_cohort(format_name=request.GET.get("format", ""),
                                                       user=request.user, site=site, diagnosis=diagnosis)
        except UnknownFormat as exc:
            return HttpResponseBadRequest(str(exc), content_type="text/plain; charset=utf-8")
        response = StreamingHttpResponse(chunks, content_type=export_format.content_type)
        response["Content-Disposition"] = f'attachment; filename="{export_format.filename(export_stamp())}"'
        response["X-Export-Log"] = str(log.pk)
        return response


class ReportView(PermissionRequiredMixin, TemplateView):
    """The outcome report: baseline, exposure, outcomes with exact statistics,
    safety and plots, for the cohort the filters select."""

    permission_required = "reporting.view_report"
    raise_exception = True
    template_name = "reporting/report.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        sites = scope_to_user_sites(Site.objects.all(), self.request.user, site_field="pk")
        form = ReportFilterForm(self.request.GET or None, sites=sites)
        filters = form.cleaned_data if form.is_valid() else {}
        patients = datasets.cohort(user=self.request.user, site=filters.get("site"),
                                   diagnosis=filters.get("diagnosis") or None)
        report = selectors.outcome_report(patients)
        context.update(
            form=form, report=report, print_view=self.request.GET.get("print") == "1",
            query_string=self.request.GET.urlencode(),
            ck_plot=plots.ck_over_time(report.ck_series),
            waterfall=plots.bars([(o.subject_id, o.ck_change_pct) for o in report.patients],
                                 reference=-int(rules.CK_RESPONSE_FALL * 100), floor=-100),
            mmt_plot=plots.bars([(o.subject_id, o.mmt_change_pct) for o in report.patients],
                                reference=int(rules.MMT_IMPROVEMENT * 100)),
        )
        return context
