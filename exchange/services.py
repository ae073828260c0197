from django.utils import timezone

from . import datasets
from .exports import get_format
from reporting.models import ExportLog


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
    return log, export_format, export_format.stream(patients)


def export_stamp():
    return timezone.now().strftime("%Y%m%dT%H%M%SZ")
