from django.http import HttpResponseBadRequest, StreamingHttpResponse
from django.views import View
from django.views.generic import TemplateView

from accounts.mixins import PermissionRequiredMixin
from accounts.models import Site
from accounts.scoping import may, scope_to_user_sites
from reporting.models import ExportLog

from .exports import FORMATS, UnknownFormat
from .forms import ExportFilterForm
from .services import export_cohort, export_stamp


class ExportPageView(PermissionRequiredMixin, TemplateView):
    permission_required = "reporting.export_cohort"
    raise_exception = True
    template_name = "exchange/exports.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["formats"] = FORMATS.values()
        context["sites"] = scope_to_user_sites(Site.objects.all(), self.request.user, site_field="pk")
        if may(self.request.user, "reporting.view_exportlog"):
            context["export_log"] = ExportLog.objects.select_related("user")[:50]
        return context


class ExportDownloadView(PermissionRequiredMixin, View):
    """Stream one export; every download is logged first."""

    permission_required = "reporting.export_cohort"
    raise_exception = True

    def get(self, request):
        sites = scope_to_user_sites(Site.objects.all(), request.user, site_field="pk")
        form = ExportFilterForm(request.GET, sites=sites)
        if not form.is_valid():  # an export of another cohort than the one asked for is worse than none
            problems = "; ".join(f"{name}: {' '.join(errors)}" for name, errors in form.errors.items())
            return HttpResponseBadRequest(f"Nothing was exported. {problems}",
                                          content_type="text/plain; charset=utf-8")
        try:
            log, export_format, chunks = export_cohort(format_name=form.cleaned_data["format"],
                                                       user=request.user, site=form.cleaned_data["site"],
                                                       diagnosis=form.cleaned_data["diagnosis"] or None)
        except UnknownFormat as exc:
            return HttpResponseBadRequest(str(exc), content_type="text/plain; charset=utf-8")
        response = StreamingHttpResponse(chunks, content_type=export_format.content_type)
        response["Content-Disposition"] = f'attachment; filename="{export_format.filename(export_stamp())}"'
        response["X-Export-Log"] = str(log.pk)
        return response
