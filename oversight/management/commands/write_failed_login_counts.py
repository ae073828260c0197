"""``manage.py write_failed_login_counts``: write the totals of the failed-login
counting windows that are over to the audit trail (run it from cron every few
minutes; each failed login and each login does it as well)."""

from django.core.management.base import BaseCommand

from oversight.services import failed_login_counts_write


class Command(BaseCommand):
    help = "Write the failed-login counts of finished windows to the audit trail."

    def handle(self, *args, **options):
        written = 0
        while batch := failed_login_counts_write():
            written += batch
        self.stdout.write(f"{written} count{'s' if written != 1 else ''} written.")
