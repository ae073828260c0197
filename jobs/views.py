"""A job's file: its state as JSON (the progress bars poll it), cancel, download.
Anyone but its owner (or whom its kind allows) gets a 404."""

from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpResponseNotAllowed, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views import View

from .files import KINDS, may_access, request_cancel
from .models import JobFile, JobFileStatus


def job_file_state(job_file):
    """What a progress bar shows (also the status view's JSON)."""
    done = job_file.status == JobFileStatus.DONE
    return {
        "id": str(job_file.pk),
        "label": job_file.display_label,
        "status": job_file.status,
        "status_display": job_file.get_status_display(),
        "done": job_file.done,
        "total": job_file.total,
        "unit": job_file.unit,
        "unit_display": str(job_file.unit_display),
        "percent": job_file.percent,
        "active": job_file.is_active,
        "cancel_requested": job_file.cancel_requested,
        "error": job_file.error if job_file.status == JobFileStatus.FAILED else "",
        "size": job_file.size if done else None,
        "sha256": job_file.sha256 if done else "",
        "download_url": reverse("jobs:file_download", args=[job_file.pk]) if done else "",
        "cancel_url": reverse("jobs:file_cancel", args=[job_file.pk]) if job_file.is_active else "",
        "finished_at": job_file.finished_at.isoformat() if job_file.finished_at else None,
        "expires_at": job_file.expires_at.isoformat() if job_file.expires_at else None,
    }


class JobFileMixin(LoginRequiredMixin):

    def get_job_file(self, pk):
        job_file = JobFile.objects.select_related("owner").filter(pk=pk).first()
        if job_file is None or not may_access(self.request.user, job_file):
            raise Http404(_("No such file."))
        return job_file


class JobFileStatusView(JobFileMixin, View):
    def get(self, request, pk):
        return JsonResponse(job_file_state(self.get_job_file(pk)))


class JobFileCancelView(JobFileMixin, View):
    """POST: stop the job (its owner only); JSON for the page's script, else back to ``next``."""

    def get(self, request, pk):
        self.get_job_file(pk)  # somebody else's file: 404 whatever the method
        return HttpResponseNotAllowed(["POST"])

    def post(self, request, pk):
        job_file = self.get_job_file(pk)
        if job_file.owner_id != request.user.pk:
            raise Http404(_("No such file."))
        request_cancel(job_file)
        job_file.refresh_from_db()
        if request.headers.get("Accept", "").startswith("application/json"):
            return JsonResponse(job_file_state(job_file))
        target = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                               require_https=request.is_secure()):
            target = reverse("home")
        return redirect(target)


class JobFileDownloadView(JobFileMixin, View):
    def get(self, request, pk):
        job_file = self.get_job_file(pk)
        if job_file.status != JobFileStatus.DONE or not job_file.storage_name:
            raise Http404(_("This file is not ready, or no longer kept."))
        try:
            handle = default_storage.open(job_file.storage_name, "rb")
        except FileNotFoundError:
            raise Http404(_("This file is no longer kept.")) from None
        KINDS[job_file.kind].on_download(request, job_file)
        response = FileResponse(handle, as_attachment=True, filename=job_file.filename,
                                content_type=job_file.content_type or "application/octet-stream")
        response["X-Content-SHA256"] = job_file.sha256
        return response
