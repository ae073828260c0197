from django.db import transaction
from django.utils import timezone

from accounts.languages import neutral, neutral_iter
from reporting.models import ExportLog

from . import datasets
from .exports import get_format


def export_cohort(*, format_name, user=None, site=None, diagnosis=None, channel="web"):
    """Log the export (who, when, format, filters, row counts), then return
    the log row, the format and the byte stream of the file.

    Raises ``UnknownFormat`` before anything is logged."""
    export_format = get_format(format_name)
    patients = datasets.cohort(user=user, site=site, diagnosis=diagnosis)
    log = ExportLog.objects.create(
        user=user, format=export_format.name, channel=channel,
        filters={k: v for k, v in {"site": getattr(site, "code", site), "diagnosis": diagnosis}.items() if v},
        row_counts=datasets.row_counts(patients),
    )
    with neutral():
        chunks = export_format.stream(patients)
    return log, export_format, neutral_iter(chunks)


def export_stamp():
    return timezone.now().strftime("%Y%m%dT%H%M%SZ")


def export_job_start(*, user, format_name, site=None, diagnosis=None):
    """Start an export in the background (``exchange.tasks.export_file`` on the "exports"
    queue) and return its :class:`jobs.models.JobFile`, whose total is the cohort's row
    count now. The export is logged (channel "job") when the job starts it.

    Raises ``UnknownFormat`` before anything is written."""
    from jobs import files

    from .tasks import EXPORT_KIND, export_file

    export_format = get_format(format_name)
    filters = {k: v for k, v in {"site": getattr(site, "code", site), "diagnosis": diagnosis}.items() if v}
    patients = datasets.cohort(user=user, site=site, diagnosis=diagnosis)
    with neutral():  # stored: the file's label stays in the source language (shown translated: tasks.describe)
        label = " · ".join([str(export_format.label), *(f"{k} {v}" for k, v in filters.items())])
    total = sum(datasets.row_counts(patients).values())
    with transaction.atomic():  # the file's row and its job together, or neither
        job_file = files.create(kind=EXPORT_KIND, owner=user, label=label,
                                params={"format": export_format.name, "filters": filters,
                                        "site": filters.get("site", ""), "diagnosis": diagnosis or ""},
                                site=site if hasattr(site, "pk") else None, total=total)
        result = export_file.enqueue(str(job_file.pk))
        job_file.task_id = str(result.id)
        job_file.save(update_fields=["task_id"])
    return job_file
