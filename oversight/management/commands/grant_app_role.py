"""Give the application's database role exactly the privileges it needs (PostgreSQL).

Run as the tables' owner, after ``migrate`` (compose's ``migrate`` service
does both). The role is read from ``--role`` or from the user of the URL in
``APP_DATABASE_URL``; ``--create``
creates the role when it does not exist (the owner needs CREATEROLE). See
:mod:`oversight.db_role` for what is granted and what is checked.
"""

import os

import environ
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from oversight import db_role


class Command(BaseCommand):
    help = "Grant the application's database role row privileges only (run as the owner, after migrate)."

    def add_arguments(self, parser):
        parser.add_argument("--role", help="the application's role (default: the user of APP_DATABASE_URL)")
        parser.add_argument("--url-env", default="APP_DATABASE_URL",
                            help="environment variable holding the application's database URL")
        parser.add_argument("--create", action="store_true", help="create the role if it does not exist and set its password from the URL")

    def handle(self, *args, role=None, url_env="APP_DATABASE_URL", create=False, **options):
        if connection.vendor != "postgresql":
            raise CommandError("The application role is a PostgreSQL deployment's (this database is "
                               f"{connection.vendor}).")
        password = None
        if role is None:
            url = os.environ.get(url_env)
            if not url:
                raise CommandError(f"Give --role, or set {url_env} to the application's database URL.")
            config = environ.Env.db_url_config(url)
            role, password = config.get("USER"), config.get("PASSWORD") or None
            if config.get("NAME") != connection.settings_dict["NAME"]:
                raise CommandError(f"{url_env} names database {config.get('NAME')!r}, this connection "
                                   f"{connection.settings_dict['NAME']!r}.")
        if not role:
            raise CommandError("No application role given.")
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_user")
            owner = cursor.fetchone()[0]
        if role == owner:
            raise CommandError(f"The application role must not be the owner {owner!r} that runs the migrations.")
        if not db_role.role_exists(role):
            if not create:
                raise CommandError(f"Role {role!r} does not exist: create it (LOGIN, nothing else) or pass --create.")
            db_role.create_role(role, password)
            self.stdout.write(f"Created role {role}.")
        elif create and password:
            db_role.set_password(role, password)  # the URL's password, kept in step
        try:
            grants = db_role.grant(role)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"Role {role}: {db_role.ROW_PRIVILEGES} on {len(grants.read_write)} tables, "
            f"{db_role.APPEND_PRIVILEGES} only on {len(grants.append_only)} append-only tables, "
            f"SELECT on {', '.join(grants.read_only) or 'none'}, USAGE on {len(grants.sequences)} sequences; "
            f"no TRUNCATE, no ownership.")
