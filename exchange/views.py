import secrets

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponseBadRequest, HttpResponseNotAllowed, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.views import View
from django.views.generic import FormView, TemplateView

from accounts.mixins import PermissionRequiredMixin
from accounts.models import Site
from accounts.scoping import may, scope_to_user_sites
from jobs.models import JobFile
from reporting.models import ExportLog

from .exports import FORMATS, UnknownFormat
from .forms import ExportFilterForm, LabCommitForm, LabMappingForm, LabUploadForm
from .imports import labs
from .imports.labs import parse as labs_parse
from .imports.labs.load import field_label
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


# --- the lab-results import (issue 17) ---------------------------------------------------------------

#: The parsed files a user's session keeps between the upload, the dry run and the commit.
LAB_SESSION_KEY = "lab_imports"
LAB_FILES_KEPT = 3


def _lab_table(request, token):
    """The parsed file the user uploaded under ``token`` in this session (404 otherwise: a token
    is never shared between sessions or users)."""
    data = request.session.get(LAB_SESSION_KEY, {}).get(token)
    if data is None:
        raise Http404(_("This upload is no longer available: upload the file again."))
    return labs.Table.from_dict(data)


class LabImportView(PermissionRequiredMixin, FormView):
    """Step 1: upload a laboratory's CSV or XLSX file; it is read (never evaluated) and kept in
    the session, then the dry run of its automatic column mapping is shown."""

    permission_required = labs.PERMISSION
    raise_exception = True
    template_name = "exchange/lab_import.html"
    form_class = LabUploadForm

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(fields=[(capfirst(field_label(name)), name) for name in labs.FIELDS],
                       max_rows=labs_parse.MAX_ROWS, max_mb=labs_parse.MAX_BYTES // (1024 * 1024))
        return context

    def form_valid(self, form):
        upload = form.cleaned_data["file"]
        if upload.size > labs_parse.MAX_BYTES:
            form.add_error("file", _("The file is larger than %(max)s MB: split it.")
                           % {"max": labs_parse.MAX_BYTES // (1024 * 1024)})
            return self.form_invalid(form)
        try:
            table = labs.read(upload.read(), upload.name)
        except labs.LabFileError as exc:
            form.add_error("file", exc.message)
            return self.form_invalid(form)
        token = secrets.token_urlsafe(16)
        kept = dict(list(self.request.session.get(LAB_SESSION_KEY, {}).items())[-(LAB_FILES_KEPT - 1):])
        kept[token] = table.as_dict()
        self.request.session[LAB_SESSION_KEY] = kept
        return redirect("exchange:lab_import_review", token=token)


class LabImportReviewView(PermissionRequiredMixin, TemplateView):
    """Step 2: the column mapping (GET parameters; the automatic one at first) and the dry run's
    diff: every row new, changed or unchanged, every error with its row and column; with no
    error, the commit form (the reason, and the digest of this very diff)."""

    permission_required = labs.PERMISSION
    raise_exception = True
    template_name = "exchange/lab_import_review.html"

    def get(self, request, token):
        table = _lab_table(request, token)
        if any(name in request.GET for name in labs.FIELDS):
            form = LabMappingForm(request.GET, headers=table.headers)
        else:
            form = LabMappingForm(labs.auto_mapping(table.headers), headers=table.headers)
        plan = _dry_run(form, table, request.user)
        commit_form = LabCommitForm(initial={"digest": plan.digest}) if plan is not None else None
        return self.render_to_response(self.get_context_data(
            token=token, table=table, form=form, plan=plan, commit_form=commit_form))


def _dry_run(form, table, user):
    if not form.is_valid():
        return None
    try:
        return labs.dry_run(table, form.mapping(), user=user)
    except labs.MappingError as exc:
        form.add_mapping_errors(exc.errors)
        return None


class LabImportCommitView(PermissionRequiredMixin, View):
    """Step 3 (POST): store the dry run that was shown, all or nothing; refused, with the new
    diff, if the data or the file's plan changed since (its digest)."""

    permission_required = labs.PERMISSION
    raise_exception = True

    def get(self, request, token):
        _lab_table(request, token)  # another session's token: 404, as for a POST
        return HttpResponseNotAllowed(["POST"])

    def post(self, request, token):
        table = _lab_table(request, token)
        form = LabMappingForm(request.POST, headers=table.headers)
        commit_form = LabCommitForm(request.POST)
        plan = _dry_run(form, table, request.user)
        context = {"token": token, "table": table, "form": form, "plan": plan, "commit_form": commit_form,
                   "nav_section": "lab_import"}
        if plan is None or not commit_form.is_valid():
            return render(request, "exchange/lab_import_review.html", context, status=400)
        try:
            done = labs.commit(table, form.mapping(), user=request.user, reason=commit_form.cleaned_data["reason"],
                               expected_digest=commit_form.cleaned_data["digest"])
        except ValidationError as exc:
            for name, problems in exc.message_dict.items():
                commit_form.add_error("reason" if name == "reason" else None, problems)
            return render(request, "exchange/lab_import_review.html", context, status=400)
        except labs.LabImportError as exc:
            context["plan"] = exc.plan
            context["commit_form"] = LabCommitForm(initial={"digest": exc.plan.digest,
                                                            "reason": commit_form.cleaned_data["reason"]})
            context["refused"] = exc
            return render(request, "exchange/lab_import_review.html", context, status=409)
        kept = request.session.get(LAB_SESSION_KEY, {})
        kept.pop(token, None)
        request.session[LAB_SESSION_KEY] = kept
        messages.success(request, _("%(file)s imported: %(summary)s.") % {"file": done.name,
                                                                          "summary": done.summary()})
        return redirect("exchange:lab_import")
