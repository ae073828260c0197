"""PDF casebooks and the study's close-out archive, made by background jobs
(``jobs.files``: a :class:`jobs.models.JobFile` per file, queue "exports").

- ``casebook_pdf``: one patient's casebook (``oversight.casebook_pdf``), started by
  anyone who may view that casebook (the casebook page's scoping: 404 outside their
  sites); its owner downloads it while they still may view the patient's site.
- ``closeout_archive``: a zip of every patient's casebook PDF plus a manifest CSV
  (subject id, file name, pages, SHA-256, bytes), for the admin role only; written
  one PDF at a time into the zip (memory holds one casebook, not the study).

Language: a casebook PDF is rendered in the language of the user who asked for it (the
request's language, kept in the JobFile's params as ``language``; else
``accounts.languages.language_of`` the owner). The close-out archive follows its requester
the same way; its ``manifest.csv`` (codes and numbers) is language-neutral. The files'
labels (``JobFile.label``, stored) are in the source language.

Each file's SHA-256 is written to the audit trail (an access event) when it is made,
and every download too.
"""

import csv
import hashlib
import io
import zipfile
from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.languages import language_of, neutral, supported
from accounts.roles import Role
from accounts.scoping import access_for, may
from jobs import files
from jobs.base import PermanentFailure, job
from jobs.models import JobFile
from patients.models import Patient

from .casebook_pdf import PDF_CONTENT_TYPE, casebook_pdf_filename, casebook_pdf_render
from .models import AccessEvent, AccessKind

CASEBOOK_KIND = "casebook_pdf"
CLOSEOUT_KIND = "closeout_archive"
VIEW_PERMISSION = "patients.view_patient"
MANIFEST_NAME = "manifest.csv"
MANIFEST_COLUMNS = ("subject_id", "file_name", "pages", "sha256", "bytes")


def _retention():
    return timedelta(hours=settings.CASEBOOK_PDF_RETENTION_HOURS)


def may_view_casebook(user, site_id):
    """The casebook page's rule: the patient's site in the user's scope and a role that
    views patients there (``accounts.scoping.may`` with the site)."""
    return site_id is not None and may(user, VIEW_PERMISSION, site_id=site_id)


def may_make_closeout(user):
    return access_for(user).has_role(Role.ADMIN)


def _log_download(kind):
    def on_download(request, job_file):
        AccessEvent.objects.record(kind=kind, request=request, user=request.user, detail=_file_detail(job_file))
    return on_download


def _file_detail(job_file, **extra):
    return {"job_file": str(job_file.pk), "file_name": job_file.filename, "sha256": job_file.sha256,
            "bytes": job_file.size, **job_file.params, **extra}


def register_kinds():
    files.register_kind(files.Kind(
        name=CASEBOOK_KIND,
        owner_may=lambda user, job_file: may_view_casebook(user, job_file.site_id),
        on_download=_log_download(AccessKind.CASEBOOK_PDF_DOWNLOAD),
        retention=_retention(),
    ))
    files.register_kind(files.Kind(
        name=CLOSEOUT_KIND,
        owner_may=lambda user, job_file: may_make_closeout(user),
        on_download=_log_download(AccessKind.CLOSEOUT_DOWNLOAD),
        retention=_retention(),
    ))


# --- Starting ------------------------------------------------------------------------

def _language(user, language):
    """The language the file is made in: the one asked for (the request's), else the user's."""
    return supported(language) or language_of(user)


def _job_language(job_file):
    return supported(job_file.params.get("language")) or language_of(job_file.owner)


def casebook_pdf_start(*, user, patient, language=None):
    """Queue the PDF of ``patient``'s casebook for ``user`` (who may view it: the caller
    scoped the patient), in ``language`` (the request's; None: the user's stored
    language). Returns the JobFile."""
    if not may_view_casebook(user, patient.site_id):
        raise PermissionError("This role does not view the patient's casebook.")
    with neutral():  # the label is stored
        label = _("Casebook of %(subject_id)s (PDF)") % {"subject_id": patient.subject_id}
    job_file = files.create(kind=CASEBOOK_KIND, owner=user, label=label,
                            params={"patient": patient.pk, "subject_id": patient.subject_id,
                                    "language": _language(user, language)},
                            site=patient.site, unit="pages")
    result = casebook_pdf_job.enqueue(str(job_file.pk))
    JobFile.objects.filter(pk=job_file.pk).update(task_id=str(result.id))
    return job_file


def closeout_start(*, user, language=None):
    """Queue the close-out archive of the whole study (admin role only), its casebooks
    in ``language`` (the request's; None: the user's stored language)."""
    if not may_make_closeout(user):
        raise PermissionError("Only the admin role makes the close-out archive.")
    total = Patient.objects.count()
    with neutral():  # the label is stored
        label = _("Close-out archive (one PDF casebook per patient)")
    job_file = files.create(kind=CLOSEOUT_KIND, owner=user, label=label,
                            params={"patients": total, "language": _language(user, language)},
                            unit="patients", total=total)
    result = closeout_archive_job.enqueue(str(job_file.pk))
    JobFile.objects.filter(pk=job_file.pk).update(task_id=str(result.id))
    return job_file


# --- The jobs --------------------------------------------------------------------------

def _record_made(job_file_id, kind, **extra):
    job_file = JobFile.objects.select_related("owner").get(pk=job_file_id)
    if job_file.status != "done":
        return None
    return AccessEvent.objects.record(kind=kind, user=job_file.owner, detail=_file_detail(job_file, **extra))


@job(max_attempts=2, atomic=False, queue_name="exports")
def casebook_pdf_job(job_file_id):
    """Render one casebook to PDF and keep it (``jobs.files.produce``)."""
    made = {}

    def producer(job_file, progress):
        patient = Patient.objects.with_related().filter(pk=job_file.params.get("patient")).first()
        if patient is None:
            raise PermanentFailure("The patient no longer exists.")
        progress(0, None)
        pdf = casebook_pdf_render(patient, generated_by=job_file.owner, language=_job_language(job_file))
        made["pages"] = pdf.pages
        progress(pdf.pages, pdf.pages, force=True)
        return [pdf.content], casebook_pdf_filename(patient), PDF_CONTENT_TYPE

    summary = files.produce(job_file_id, producer)
    if summary.get("status") == "done":
        _record_made(job_file_id, AccessKind.CASEBOOK_PDF, pages=made["pages"])
    return {**summary, **made}


class _Sink:
    """A write-only stream for ``zipfile`` (no seek, no tell: zipfile then writes data
    descriptors) that hands out what was written so far."""

    def __init__(self):
        self._parts = []

    def write(self, data):
        self._parts.append(bytes(data))
        return len(data)

    def flush(self):
        pass

    def take(self):
        data, self._parts = b"".join(self._parts), []
        return data


def closeout_chunks(patients, progress, *, generated_by=None, manifest=None, language=None):
    """The close-out zip as chunks of bytes: one casebook PDF per patient (rendered one
    at a time, in ``language``), then ``manifest.csv``. ``manifest`` (a list) receives its rows."""
    rows = manifest if manifest is not None else []
    sink = _Sink()
    total = len(patients) if hasattr(patients, "__len__") else None
    with zipfile.ZipFile(sink, mode="w", compression=zipfile.ZIP_STORED) as archive:
        for done, patient in enumerate(patients, start=1):
            pdf = casebook_pdf_render(patient, generated_by=generated_by, language=language)
            name = casebook_pdf_filename(patient)
            archive.writestr(name, pdf.content)
            rows.append({"subject_id": patient.subject_id, "file_name": name, "pages": pdf.pages,
                         "sha256": hashlib.sha256(pdf.content).hexdigest(), "bytes": len(pdf.content)})
            del pdf
            progress(done, total)
            yield sink.take()
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        archive.writestr(zipfile.ZipInfo(MANIFEST_NAME, date_time=timezone.now().timetuple()[:6]),
                         text.getvalue().encode(), compress_type=zipfile.ZIP_DEFLATED)
    yield sink.take()


@job(max_attempts=2, atomic=False, queue_name="exports")
def closeout_archive_job(job_file_id):
    """Every patient's casebook PDF in one zip, with a manifest; progress in patients."""
    manifest = []

    def producer(job_file, progress):
        # The ids first, each patient loaded when its turn comes: memory holds one casebook.
        pks = list(Patient.objects.order_by("subject_id").values_list("pk", flat=True))
        progress(0, len(pks), force=True)
        patients = _LazyPatients(pks)
        stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
        return (closeout_chunks(patients, progress, generated_by=job_file.owner, manifest=manifest,
                                language=_job_language(job_file)),
                f"closeout-casebooks-{stamp}.zip", "application/zip")

    summary = files.produce(job_file_id, producer)
    if summary.get("status") == "done":
        _record_made(job_file_id, AccessKind.CLOSEOUT_ARCHIVE, patients=len(manifest),
                     pages=sum(row["pages"] for row in manifest))
    return {**summary, "patients": len(manifest)}


class _LazyPatients:
    """The patients of ``pks`` in that order, each read when iterated (one query each)."""

    def __init__(self, pks):
        self.pks = pks

    def __len__(self):
        return len(self.pks)

    def __iter__(self):
        for pk in self.pks:
            patient = Patient.objects.with_related().filter(pk=pk).first()
            if patient is not None:
                yield patient
