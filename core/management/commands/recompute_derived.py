from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from core import derived


class Command(BaseCommand):
    help = ("Re-derive every stored clinical fact (doses, rates, windows, deviations, ages, "
            "malignancy timing, SAE lateness...) with the rules as they are now, and list what "
            "would change. Nothing is written without --apply; with --apply each change is "
            "written through the services with a history row carrying --reason.")

    def add_arguments(self, parser):
        parser.add_argument("--apply", action="store_true", help="Write the changes (default: dry run).")
        parser.add_argument("--reason", default="", help="Reason for change on the history rows "
                                                         "(required with --apply).")
        parser.add_argument("--user", help="Username recorded as the author of the history rows.")
        parser.add_argument("--app", action="append", help="Only this app (repeatable).")

    def handle(self, *args, apply=False, reason="", user=None, app=None, **options):
        reason = (reason or "").strip()
        if apply and not reason:
            raise CommandError("--apply needs --reason (it goes on every history row).", returncode=2)
        author = None
        if user:
            try:
                author = get_user_model().objects.get(username=user)
            except get_user_model().DoesNotExist:
                raise CommandError(f"No user {user!r}.", returncode=2) from None
        selected = derived.recomputers()
        if app:
            unknown = sorted(set(app) - set(selected))
            if unknown:
                raise CommandError(f"No recomputer for {', '.join(unknown)}; known: {', '.join(selected)}.",
                                   returncode=2)
            selected = {name: f for name, f in selected.items() if name in app}
        total = 0
        for name, recompute in selected.items():
            with transaction.atomic():
                changes = recompute(apply=apply, reason=reason, user=author)
            for change in changes:
                self.stdout.write(f"[{name}] {change}")
            total += len(changes)
        if apply:
            written = total  # (counted per line above)
            self.stdout.write(self.style.SUCCESS(f"{written} stored fact(s) differed; changes written where allowed."))
        else:
            self.stdout.write(f"Dry run: {total} stored fact(s) would change. Nothing was written; "
                              f"run with --apply --reason \"...\" to write them.")
