from django.core.management.base import BaseCommand

from coding.services import ctcae_load


class Command(BaseCommand):
    help = "Load (or refresh) the CTCAE v5.0 terms shipped in coding/data; idempotent."

    def handle(self, *args, **options):
        counts = ctcae_load()
        self.stdout.write(f"CTCAE v5.0: {counts['created']} added, {counts['updated']} updated, "
                          f"{counts['retired']} no longer current.")
