from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts.languages import neutral
from exchange.imports import labs
from exchange.imports.labs.load import field_label


class Command(BaseCommand):
    help = ("Import laboratory results (CK with its reference range, aldolase, LDH, AST, ALT with their upper "
            "limits) from a CSV or XLSX file into the patients' assessments, matched by subject id and "
            "assessment date. A dry run by default: every row is listed as new, changed (old -> new) or "
            "unchanged, and every error with its row and column. With --commit: all or nothing, each change "
            "saved with the reason and the user in its history. Exit code 1: errors (nothing stored); 2: no "
            "such file or user, or an unusable mapping.")

    def add_arguments(self, parser):
        parser.add_argument("file", help="The CSV (UTF-8, ';' or ',') or XLSX file.")
        parser.add_argument("--user", required=True, help="Username of the importing user (their roles and "
                                                          "sites apply; the history rows name them).")
        parser.add_argument("--reason", default="", help="The reason for change (required with --commit).")
        parser.add_argument("--commit", action="store_true", help="Store the changes (default: dry run).")
        parser.add_argument("--map", action="append", default=[], metavar="FIELD=HEADER",
                            help=f"Map a column to a field (repeatable); fields: {', '.join(labs.FIELDS)}. "
                                 f"Unmapped fields are mapped automatically from the headers' names.")
        parser.add_argument("--no-auto", action="store_true", help="Use only the --map options.")
        parser.add_argument("--expect", default=None, metavar="DIGEST",
                            help="With --commit: the digest a dry run printed; refuse if the plan differs.")

    def handle(self, *args, file, user, reason, commit, map, no_auto, expect, **options):
        try:
            author = get_user_model().objects.get(username=user)
        except get_user_model().DoesNotExist:
            raise CommandError(f"No user {user!r}.", returncode=2) from None
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"No such file: {file}", returncode=2)
        with neutral():
            self._run(path, author, reason=reason, commit=commit, options=map, auto=not no_auto, expect=expect)

    def _run(self, path, author, *, reason, commit, options, auto, expect):
        try:
            table = labs.read(path.read_bytes(), path.name)
        except labs.LabFileError as exc:
            raise CommandError(f"{path.name}: {exc.message}", returncode=1) from None
        mapping = labs.auto_mapping(table.headers) if auto else {}
        for option in options:
            name, sep, header = option.partition("=")
            if not sep or name.strip() not in labs.FIELDS:
                raise CommandError(f"--map {option!r}: write FIELD=HEADER with a field among "
                                   f"{', '.join(labs.FIELDS)}.", returncode=2)
            mapping = {k: v for k, v in mapping.items() if v != header.strip()}
            mapping[name.strip()] = header.strip()
        self.stdout.write("Columns: " + "; ".join(f"{field_label(name)} <- {mapping[name]!r}"
                                                  for name in labs.FIELDS if name in mapping))
        try:
            if commit:
                plan = labs.commit(table, mapping, user=author, reason=reason, expected_digest=expect)
            else:
                plan = labs.dry_run(table, mapping, user=author)
        except labs.MappingError as exc:
            raise CommandError(f"Column mapping: {exc}", returncode=2) from None
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages), returncode=2) from None
        except labs.LabImportError as exc:
            self._report(exc.plan)
            raise CommandError(f"{path.name}: {exc}", returncode=1) from None
        self._report(plan)
        if plan.errors:
            raise CommandError(f"{path.name}: {len(plan.errors)} error(s); a commit would store nothing.",
                               returncode=1)
        if commit:
            self.stdout.write(self.style.SUCCESS(f"Imported {path.name}: {plan.summary()}."))
        else:
            self.stdout.write(f"Dry run of {path.name}: {plan.summary()}; nothing stored. "
                              f"Digest: {plan.digest} (give it to --expect with --commit).")

    def _report(self, plan):
        for row in plan.rows:
            where = f"Row {row.row} ({row.subject} {row.date.isoformat() if row.date else '?'})"
            if row.issues:
                for issue in row.issues:
                    self.stderr.write(str(issue))
                continue
            changes = ", ".join(f"{c.label}: {'' if c.old is None else c.old} -> {c.new}" for c in row.changes)
            self.stdout.write(f"{where}: {row.status}{': ' + changes if changes else ''}")
            for warning in row.warnings:
                self.stderr.write(f"{where}: warning: {warning}", style_func=self.style.WARNING)
        for issue in plan.extra_errors:
            self.stderr.write(str(issue))
