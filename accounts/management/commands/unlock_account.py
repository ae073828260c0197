"""``manage.py unlock_account USERNAME [...]``: clear every login lock of the accounts,
for when no administrator can log in to do it from the admin (``--all``: every lock)."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from accounts.lockout import locked_usernames
from accounts.services import account_unlock


class Command(BaseCommand):
    help = "Unlock accounts locked after failed logins (from one address or from everywhere)."

    def add_arguments(self, parser):
        parser.add_argument("usernames", nargs="*")
        parser.add_argument("--all", action="store_true", help="Every account locked now.")

    def handle(self, *args, usernames, all, **options):
        if not usernames and not all:
            raise CommandError("Name the accounts to unlock, or give --all.")
        User = get_user_model()
        names = set(usernames) | (set(locked_usernames()) if all else set())
        users = {u.get_username(): u for u in User._default_manager.filter(**{
            f"{User.USERNAME_FIELD}__in": names})}
        unknown = sorted(names - set(users))
        if unknown:
            raise CommandError(f"No such account: {', '.join(unknown)}.")
        for name in sorted(users):
            cleared = account_unlock(user=users[name], by="manage.py unlock_account")
            self.stdout.write(f"{name}: {'unlocked' if cleared else 'was not locked'}.")
