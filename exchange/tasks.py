"""Exports run in the background (issue 15): the same export as the streamed download
(:func:`exchange.services.export_cohort`, logged with channel "job" when it starts),
written by a job on the "exports" queue into a :class:`jobs.models.JobFile` of kind
"export" (``jobs.files``: progress, cancel, storage with SHA-256, expiry).

Progress is the rows the writer has pulled from ``exchange.datasets`` (a
:class:`~exchange.datasets.RowCounter`, ticked in batches by the tables' row
iterators, whatever the writer does with the rows), of the cohort's rows
(``datasets.row_counts``, summed). When the writer has finished every row is written.

Test-only settings (not in settings.py): ``EXPORT_JOB_TICK_ROWS`` (rows per tick,
``datasets.TICK_ROWS`` by default) and ``EXPORT_JOB_SLOWDOWN_S`` (a pause after each
tick, so that a browser test can watch a small cohort's bar move).
"""

import time
from datetime import timedelta

from django.conf import settings
from django.utils.translation import gettext as _

from jobs import files
from jobs.base import job
from jobs.models import JobFile

from . import datasets
from .exports import get_format

EXPORT_KIND = "export"
EXPORT_PERMISSION = "reporting.export_cohort"


def owner_may(user, job_file):
    """The owner still holds the export permission at the export's one site, or, for an
    export of all the owner's sites, at every site whose patients the file holds
    (``params["site_ids"]``, written when the job read the cohort): an owner who lost
    one of those sites no longer downloads the file."""
    from accounts.scoping import may

    if job_file.site_id is not None:
        return may(user, EXPORT_PERMISSION, site_id=job_file.site_id)
    site_ids = (job_file.params or {}).get("site_ids")
    if site_ids is None:  # not read yet (queued, running): nothing of a site in it
        return may(user, EXPORT_PERMISSION)
    return may(user, EXPORT_PERMISSION) and all(may(user, EXPORT_PERMISSION, site_id=pk) for pk in site_ids)


def record_download(request, job_file):
    """Every download of a background export is an access event (the export itself is
    in the export log, channel "job", from when it started)."""
    from oversight.models import AccessEvent, AccessKind

    params = job_file.params or {}
    AccessEvent.objects.record(kind=AccessKind.EXPORT_DOWNLOAD, request=request, user=request.user, detail={
        "file": str(job_file.pk), "format": params.get("format", ""), "filters": params.get("filters", {}),
        "export_log": params.get("export_log"), "rows": job_file.total, "size": job_file.size,
        "sha256": job_file.sha256, "filename": job_file.filename,
    })


def describe(job_file):
    """An export's label in the reader's language, from its stored parameters (its format and
    filters); the stored ``label`` (source language) when the format is unknown."""
    from .exports import FORMATS

    params = job_file.params or {}
    export_format = FORMATS.get(params.get("format"))
    if export_format is None:
        return job_file.label
    filters = params.get("filters") or {}
    parts = [str(export_format.label)]
    if filters.get("site"):
        parts.append(_("site %(site)s") % {"site": filters["site"]})
    if filters.get("diagnosis"):
        parts.append(_("diagnosis %(diagnosis)s") % {"diagnosis": filters["diagnosis"]})
    return " · ".join(parts)


def register():
    """The "export" kind of job file (``ExchangeConfig.ready``): its owner only, nobody
    else (a 404); kept EXPORT_FILE_RETENTION_HOURS."""
    return files.register_kind(files.Kind(
        name=EXPORT_KIND,
        others_may=lambda user, job_file: False,
        owner_may=owner_may,
        on_download=record_download,
        retention=timedelta(hours=settings.EXPORT_FILE_RETENTION_HOURS),
        describe=describe,
    ))


def produce_export(job_file, progress):
    """``jobs.files.produce``'s producer: the export's bytes, its file name and type.
    Nothing is read or logged before the job pulls the first chunk."""
    from .services import export_cohort, export_stamp

    params = job_file.params
    export_format = get_format(params["format"])
    slowdown = getattr(settings, "EXPORT_JOB_SLOWDOWN_S", 0)

    def on_tick(done):
        progress(done)
        if slowdown:
            time.sleep(slowdown)

    def chunks():
        counter = datasets.RowCounter(on_tick=on_tick, tick_rows=getattr(settings, "EXPORT_JOB_TICK_ROWS", None))
        with datasets.counting_rows(counter):
            log, _format, stream = export_cohort(format_name=export_format.name, user=job_file.owner,
                                                 site=params.get("site") or None,
                                                 diagnosis=params.get("diagnosis") or None, channel="job")
            site_ids = sorted(datasets.cohort(user=job_file.owner, site=params.get("site") or None,
                                              diagnosis=params.get("diagnosis") or None)
                              .order_by().values_list("site_id", flat=True).distinct())
            JobFile.objects.filter(pk=job_file.pk).update(params={**params, "export_log": log.pk,
                                                                  "site_ids": site_ids})
            counter.totals = dict(log.row_counts)
            total = sum(log.row_counts.values())
            progress(0, total, force=True)
            yield from stream
        progress(total)  # the writer is done: every row is in the file

    return chunks(), export_format.filename(export_stamp()), export_format.content_type


@job(max_attempts=2, atomic=False, queue_name="exports")
def export_file(job_file_id):
    """Write one background export (``jobs.files.produce``)."""
    return files.produce(job_file_id, produce_export)
