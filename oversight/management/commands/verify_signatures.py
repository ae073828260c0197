"""Re-hash the data of every valid e-signature and source verification.

Exits 0 when each still matches its record's current data, 1 (listing them)
when one does not: the data, or the record of an invalidation, were changed
outside the application. For a nightly job next to the backups; the audit's
"Signature check" page shows the same list.
"""

from django.core.management.base import BaseCommand, CommandError

from review.selectors import check_reviews


class Command(BaseCommand):
    help = "Check every valid signature and source verification against its record's current data."

    def handle(self, *args, **options):
        result = check_reviews()
        for row in result.broken:
            self.stdout.write(
                f"BROKEN {row.kind_label} #{row.pk}: patient {row.patient.subject_id}, {row.record_label}, "
                f"by {row.reviewed_by.get_username()} at {row.reviewed_at:%Y-%m-%d %H:%M} UTC; "
                f"{row.problem} (stored {row.data_hash}, now {row.current_hash or 'record missing'})")
        if result.broken:
            raise CommandError(f"{len(result.broken)} of {result.checked} signatures and verifications no longer "
                               f"match their data: altered outside the application.")
        self.stdout.write(f"{result.checked} signatures and verifications checked: all match their data.")
