"""Start a PDF casebook (anyone who may view the casebook) or the study's close-out
archive (the admin role), and list the files one started, with their state and a
download link (``jobs:file_download`` checks the owner's right again)."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.generic import TemplateView

from jobs.models import JobFile
from patients import selectors as patient_selectors

from . import casebook_jobs
from .views import AdminRoleRequired


class CasebookPdfView(LoginRequiredMixin, TemplateView):
    """GET: the PDFs of this casebook the user made; POST: make another (a job)."""

    template_name = "oversight/casebook_pdf_files.html"

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        # 404 outside the user's sites, as the casebook page; 403 for a role that does not view it.
        self.patient = patient_selectors.patient_get(user=request.user, pk=kwargs["patient_pk"])
        if not casebook_jobs.may_view_casebook(request.user, self.patient.site_id):
            raise PermissionDenied(_("Your role does not show this casebook."))
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(
            patient=self.patient, title=_("PDF casebooks of %(subject_id)s") % {"subject_id": self.patient.subject_id},
            retention_hours=settings.CASEBOOK_PDF_RETENTION_HOURS,
            job_files=list(JobFile.objects.filter(owner=self.request.user, kind=casebook_jobs.CASEBOOK_KIND,
                                                  params__patient=self.patient.pk)),
        )
        return context

    def post(self, request, *args, **kwargs):
        # The PDF is made in the language of this request (the worker has no request).
        casebook_jobs.casebook_pdf_start(user=request.user, patient=self.patient, language=get_language())
        messages.success(request, _("The PDF casebook of %(subject_id)s is being made: "
                                    "it appears below when ready.") % {"subject_id": self.patient.subject_id})
        return redirect("oversight:casebook_pdf", patient_pk=self.patient.pk)


class CloseoutArchiveView(LoginRequiredMixin, AdminRoleRequired, TemplateView):
    """GET: the close-out archives the admin made; POST: make one (a job)."""

    template_name = "oversight/closeout_archive.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(
            title=_("Close-out archive"), retention_hours=settings.CASEBOOK_PDF_RETENTION_HOURS,
            job_files=list(JobFile.objects.filter(owner=self.request.user, kind=casebook_jobs.CLOSEOUT_KIND)),
        )
        return context

    def post(self, request, *args, **kwargs):
        casebook_jobs.closeout_start(user=request.user, language=get_language())
        messages.success(request, _("The close-out archive is being made: it appears below when ready."))
        return redirect("oversight:closeout_archive")
