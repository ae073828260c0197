import time

from django.core.management.base import BaseCommand, CommandError

from demo.synthetic import generate_cohort


class Command(BaseCommand):
    requires_system_checks = []  # a data tool: skip the URL and model checks (seconds on a busy machine)
    help = ("Write a large synthetic cohort: N patients spread over S sites, each with a diagnosis, "
            "a baseline assessment and K monthly cycles, through the services of every other channel "
            "(rules, deviations, history); --fast writes the same rows with bulk inserts (benchmarks). "
            "See demo/synthetic.py.")

    def add_arguments(self, parser):
        parser.add_argument("--patients", type=int, required=True, help="Number of patients (N).")
        parser.add_argument("--cycles", type=int, required=True, help="Treatment cycles per patient (K).")
        parser.add_argument("--sites", type=int, required=True, help="Number of sites (S, at most 99).")
        parser.add_argument("--seed", type=int, default=42, help="Random seed (default 42).")
        parser.add_argument("--clear", action="store_true",
                            help="First empty the clinical tables and their history (benchmark databases "
                                 "only: audit rows are otherwise never removed).")
        parser.add_argument("--batch-size", type=int, default=1000, help="Patients per transaction.")
        parser.add_argument("--fast", action="store_true",
                            help="Bulk inserts with their history rows instead of the services: the same "
                                 "stored rows (tests/core/test_write_channels.py), for 10,000-patient benchmarks.")

    def handle(self, *args, patients, cycles, sites, seed, clear, batch_size, fast, **options):
        started = time.monotonic()
        try:
            counts = generate_cohort(patients=patients, cycles=cycles, sites=sites, seed=seed, clear=clear,
                                     batch_size=batch_size, out=self.stdout.write,
                                     through="bulk" if fast else "services")
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        elapsed = time.monotonic() - started
        for label, n in sorted(counts.rows.items()):
            self.stdout.write(f"  {label:<40} {n:>9,}")
        self.stdout.write(self.style.SUCCESS(
            f"{counts.patients} patients, {cycles} cycles each, {sites} sites: {counts.total:,} rows "
            f"in {elapsed:.1f} s ({counts.total / max(elapsed, 1e-9):,.0f} rows/s)."))
