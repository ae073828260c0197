from django.core.management.base import BaseCommand, CommandError

from coding.meddra import MeddraFormatError
from coding.services import meddra_load


class Command(BaseCommand):
    help = ("Load a licensed MedDRA release from its ASCII files (the MedAscii folder: llt.asc, pt.asc, "
            "soc.asc, mdhier.asc, hlt_pt.asc, hlgt_hlt.asc, soc_hlgt.asc); all or nothing.")

    def add_base_argument(self, parser, *args, **kwargs):
        if "--version" not in args:  # --version is the release's here, not Django's
            super().add_base_argument(parser, *args, **kwargs)

    def add_arguments(self, parser):
        parser.add_argument("directory", help="The folder holding the release's .asc files.")
        parser.add_argument("--version", dest="meddra_version", required=True, help='E.g. "27.1".')

    def handle(self, *args, directory, meddra_version, **options):
        try:
            counts = meddra_load(directory, version=meddra_version)
        except MeddraFormatError as exc:
            raise CommandError(f"Nothing loaded: {exc}") from exc
        self.stdout.write(self.style.SUCCESS(
            f"MedDRA {meddra_version}: {counts['created']} terms added, {counts['updated']} updated, "
            f"{counts['retired']} no longer current; {counts['ctcae_completed']} CTCAE terms given their PT."))
