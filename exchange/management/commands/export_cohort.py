from django.core.management.base import BaseCommand, CommandError

from exchange.exports import FORMATS, UnknownFormat
from exchange.services import export_cohort


class Command(BaseCommand):
    help = "Export the cohort (de-identified) as csv, xlsx, odm, sdtm or fhir."

    def add_arguments(self, parser):
        parser.add_argument("--format", required=True, help=f"One of: {', '.join(FORMATS)}.")
        parser.add_argument("--output", required=True, help="File to write.")
        parser.add_argument("--site", help="Only this site code (e.g. 01).")
        parser.add_argument("--diagnosis", choices=["PM", "DM"], help="Only PM or DM patients.")

    def handle(self, *args, format, output, site=None, diagnosis=None, **options):
        try:
            log, export_format, chunks = export_cohort(format_name=format, site=site, diagnosis=diagnosis,
                                                       channel="cli")
        except UnknownFormat as exc:
            raise CommandError(str(exc), returncode=2) from exc
        written = 0
        with open(output, "wb") as out:
            for chunk in chunks:
                out.write(chunk)
                written += len(chunk)
        counts = ", ".join(f"{k} {v}" for k, v in log.row_counts.items())
        self.stdout.write(f"Wrote {output} ({export_format.label}, {written} bytes): {counts}.")
