from django.conf import settings
from django.contrib import messages
from django.http import HttpResponseBadRequest, StreamingHttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views import View
from django.views.generic import TemplateView

from accounts.mixins import PermissionRequiredMixin
from accounts.models import Site
from accounts.scoping import may, scope_to_user_sites
from jobs.models import JobFile
from reporting.models import ExportLog

from .exports import FORMATS, UnknownFormat
from .forms import ExportFilterForm
from .services import export_cohort, export_job_start, export_stamp
from .tasks import EXPORT_KIND

#: The user's background exports listed on the exports page, newest first.
JOB_FILES_SHOWN = 20


def _problems(form):
    return "; ".join(f"{name}: {' '.join(errors)}" for name, errors in form.errors.items())


class ExportPageView(PermissionRequiredMixin, TemplateView):
    permission_required = "reporting.export_cohort"
    raise_exception = True
    template_name = "exchange/exports.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["formats"] = FORMATS.values()
        context["export_retention_hours"] = settings.EXPORT_FILE_RETENTION_HOURS
        context["sites"] = scope_to_user_sites(Site.objects.all(), self.request.user, site_field="pk")
        if may(self.request.user, "reporting.view_exportlog"):
            context["export_log"] = ExportLog.objects.select_related("user")[:50]
        mine = JobFile.objects.filter(owner=self.request.user, kind=EXPORT_KIND)
        context["job_files"] = list(mine.order_by("-created_at")[:JOB_FILES_SHOWN])
        context["job_files_total"] = mine.count()
        return context


class ExportJobStartView(PermissionRequiredMixin, View):
    """POST: run one export in the background (the same form and checks as the streamed
    download); back to the exports page, where its progress shows."""

    permission_required = "reporting.export_cohort"
    raise_exception = True

    def post(self, request):
        sites = scope_to_user_sites(Site.objects.all(), request.user, site_field="pk")
        form = ExportFilterForm(request.POST, sites=sites)
        if not form.is_valid():
            return HttpResponseBadRequest(_("Nothing was started. %(problems)s") % {"problems": _problems(form)},
                                          content_type="text/plain; charset=utf-8")
        try:
            job_file = export_job_start(user=request.user, format_name=form.cleaned_data["format"],
                                        site=form.cleaned_data["site"],
                                        diagnosis=form.cleaned_data["diagnosis"] or None)
        except UnknownFormat as exc:
            return HttpResponseBadRequest(str(exc), content_type="text/plain; charset=utf-8")
        messages.success(request, _("%(file)s: started in the background. Its progress shows below.")
                         % {"file": job_file.display_label})
        return redirect(f"{reverse('exchange:exports')}#job-files")


class ExportDownloadView(PermissionRequiredMixin, View):
    """Stream one export; every download is logged first."""

    permission_required = "reporting.export_cohort"
    raise_exception = True

    def get(self, request):
        sites = scope_to_user_sites(Site.objects.all(), request.user, site_field="pk")
        form = ExportFilterForm(request.GET, sites=sites)
        if not form.is_valid():  # an export of another cohort than the one asked for is worse than none
            return HttpResponseBadRequest(_("Nothing was exported. %(problems)s") % {"problems": _problems(form)},
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
