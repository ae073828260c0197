from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from exchange.imports.odm import OdmImportError, import_odm


class Command(BaseCommand):
    help = ("Import the subjects of a CDISC ODM 1.3.2 file (as written by export_cohort --format odm), "
            "checking every value with the model rules. All or nothing: on any error nothing is imported, "
            "the errors (with the path of each element) go to stderr and the exit code is 1. "
            "Exit code 2: no such file or user.")

    def add_arguments(self, parser):
        parser.add_argument("file", help="The ODM XML file.")
        parser.add_argument("--user", help="Username recorded as the author of the history rows "
                                           "(default: none, the system).")
        parser.add_argument("--dry-run", action="store_true",
                            help="Check everything, import nothing.")

    def handle(self, *args, file, user=None, dry_run=False, **options):
        author = None
        if user:
            try:
                author = get_user_model().objects.get(username=user)
            except get_user_model().DoesNotExist:
                raise CommandError(f"No user {user!r}.", returncode=2) from None
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"No such file: {file}", returncode=2)
        try:
            result = import_odm(path, user=author, dry_run=dry_run)
        except OdmImportError as exc:
            for issue in exc.errors:
                self.stderr.write(str(issue))
            raise CommandError(f"{len(exc.errors)} error(s) in {path.name}: nothing imported.",
                               returncode=1) from exc
        for warning in result.warnings:
            self.stderr.write(f"Warning: {warning}", style_func=self.style.WARNING)
        if dry_run:
            self.stdout.write(f"Dry run: {path.name} is valid; nothing imported. It holds {result.summary()}.")
        else:
            self.stdout.write(self.style.SUCCESS(f"Imported {path.name}: {result.summary()}."))
