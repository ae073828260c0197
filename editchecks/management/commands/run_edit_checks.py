"""``python manage.py run_edit_checks``: run the edit checks now.

    python manage.py run_edit_checks                      # every check, whole cohort (logged as a run)
    python manage.py run_edit_checks --check EC001 --check EC003
    python manage.py run_edit_checks --patient 01-003     # one patient's records
    python manage.py run_edit_checks --dry-run            # list the failing records, write nothing
    python manage.py run_edit_checks --list               # the checks and whether they are on
"""

from django.core.management.base import BaseCommand, CommandError

from accounts.languages import neutral
from editchecks import services
from editchecks.checks import BY_ID, CHECKS
from editchecks.models import RunTrigger
from patients.models import Patient


class Command(BaseCommand):
    help = "Run the edit checks: raise a data query on each failing record, close those no longer failing."

    def add_arguments(self, parser):
        parser.add_argument("--check", action="append", default=[], metavar="ID",
                            help="A check's id (repeatable); default: every check switched on.")
        parser.add_argument("--patient", action="append", default=[], metavar="SUBJECT_ID",
                            help="A patient's subject id (repeatable); default: the whole cohort.")
        parser.add_argument("--dry-run", action="store_true", help="List the failing records; write nothing.")
        parser.add_argument("--list", action="store_true", help="List the checks and stop.")

    def handle(self, *args, check, patient, dry_run, list, **options):
        with neutral():
            self._handle(check_ids=check, subject_ids=patient, dry_run=dry_run, listing=list)

    def _handle(self, *, check_ids, subject_ids, dry_run, listing):
        unknown = [check_id for check_id in check_ids if check_id not in BY_ID]
        if unknown:
            raise CommandError(f"Unknown check(s): {', '.join(unknown)}. Known: {', '.join(BY_ID)}.")
        checks = [BY_ID[check_id] for check_id in check_ids] or list(CHECKS)
        off = services.switched_off()
        if listing:
            for one in CHECKS:
                self.stdout.write(f"{services.describe(one)} [{'off' if one.id in off else 'on'}]")
            return
        patients = None
        if subject_ids:
            found = dict(Patient.objects.filter(subject_id__in=subject_ids).values_list("subject_id", "pk"))
            missing = sorted(set(subject_ids) - set(found))
            if missing:
                raise CommandError(f"Unknown patient(s): {', '.join(missing)}.")
            patients = list(found.values())
        scope = services.checkable_patients(patients)
        if dry_run:
            from django.utils import timezone

            today = timezone.localdate()
            for one in checks:
                state = " (switched off: would not run)" if one.id in off else ""
                failures = services.check_find(one, patients=scope, today=today)
                self.stdout.write(f"{services.describe(one)}: {len(failures)} failing{state}")
                for failure in failures:
                    self.stdout.write(f"  {failure.record_label}: {failure.values}")
            return
        if patients is None:
            run = services.cohort_run(trigger=RunTrigger.COMMAND, checks=checks)
            results = run.results
        else:
            results = services.checks_run(patients=scope, checks=checks)
        for check_id, counts in results.items():
            if counts.get("skipped"):
                self.stdout.write(f"{check_id}: switched off, not run")
            else:
                self.stdout.write(f"{check_id}: {counts['failing']} failing, {counts['raised']} queries raised, "
                                  f"{counts['closed']} closed")
