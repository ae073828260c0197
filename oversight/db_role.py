"""The application's PostgreSQL role: it owns nothing and may only read and write rows.

Two roles, one database:

- the **owner** (``DATABASE_URL`` of the ``migrate`` step) owns every table,
  runs ``manage.py migrate`` and then ``manage.py grant_app_role``;
- the **application role** (``DATABASE_URL`` of the web processes) is granted
  here, after each migration, exactly what the application does with rows:
  ``SELECT, INSERT, UPDATE, DELETE`` on the ordinary tables; ``SELECT, INSERT``
  only on the append-only ones (the tables carrying the
  :mod:`oversight.append_only` trigger: history, access events, export log,
  signatures, verifications and the other review rows); ``SELECT`` on
  ``django_migrations``; ``USAGE`` on the sequences.

What it therefore cannot do (PostgreSQL checks it, whatever the application
runs): ``TRUNCATE`` (no TRUNCATE privilege), ``ALTER TABLE ... DISABLE
TRIGGER`` or any DDL (only an owner may alter a table, and the role owns
nothing and is no member of the owner), ``SET session_replication_role``
(superuser only, and the role is no superuser), ``UPDATE``/``DELETE`` of an
audit or review row (no privilege, and the trigger). :func:`problems` checks
these facts and :func:`grant` refuses a role that breaks them.
"""

from dataclasses import dataclass

from django.db import connection as default_connection
from django.db import transaction

from . import append_only

#: Tables the application only reads (written by ``migrate``, as the owner).
READ_ONLY_TABLES = ("django_migrations",)
ROW_PRIVILEGES = "SELECT, INSERT, UPDATE, DELETE"
APPEND_PRIVILEGES = "SELECT, INSERT"


@dataclass
class Grants:
    read_write: list
    append_only: list
    read_only: list
    sequences: list


def _ident(connection, name):
    return connection.ops.quote_name(name)


def role_exists(role, connection=default_connection):
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
        return cursor.fetchone() is not None


def create_role(role, password=None, connection=default_connection):
    """Create the application role (needs CREATEROLE): a login, nothing more."""
    q = _ident(connection, role)
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE ROLE {q} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION "
                       f"NOBYPASSRLS NOINHERIT")
    if password:
        set_password(role, password, connection)


def set_password(role, password, connection=default_connection):
    with connection.cursor() as cursor:
        # A utility statement takes no bind parameters: quote the literal the server's way.
        cursor.execute("SELECT quote_literal(%s)", [password])
        literal = cursor.fetchone()[0]
        cursor.execute(f"ALTER ROLE {_ident(connection, role)} PASSWORD {literal}")


def plan(connection=default_connection):
    """Which table gets which privileges: every table of the schema, by kind."""
    from django.apps import apps

    tables = set(connection.introspection.table_names())
    protected = (append_only.protected_tables(connection) | set(append_only.audit_tables(apps))) & tables
    read_only = sorted(set(READ_ONLY_TABLES) & tables)
    read_write = sorted(tables - protected - set(read_only))
    with connection.cursor() as cursor:
        cursor.execute("SELECT c.relname FROM pg_class c WHERE c.relkind = 'S' "
                       "AND c.relnamespace = current_schema()::regnamespace")
        sequences = sorted(row[0] for row in cursor.fetchall())
    return Grants(read_write=read_write, append_only=sorted(protected), read_only=read_only, sequences=sequences)


@transaction.atomic
def grant(role, connection=default_connection):
    """Reset the role's privileges in this database to exactly :func:`plan`'s (idempotent:
    run after every ``migrate``). Refuses a role that is a superuser, owns tables, or
    belongs to their owner."""
    found = problems(role, connection)
    if found:
        raise ValueError(f"The application role {role!r} " + "; ".join(found) + ".")
    q = _ident(connection, role)
    grants = plan(connection)
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_database(), current_schema()")
        database, schema = cursor.fetchone()
        qs = _ident(connection, schema)
        cursor.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA {qs} FROM {q}")
        cursor.execute(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {qs} FROM {q}")
        cursor.execute(f"REVOKE ALL ON SCHEMA {qs} FROM {q}")
        cursor.execute(f"GRANT CONNECT ON DATABASE {_ident(connection, database)} TO {q}")
        cursor.execute(f"GRANT USAGE ON SCHEMA {qs} TO {q}")
        # Before PostgreSQL 15 every role may CREATE in the public schema (and would own what it
        # creates); the schema's owner takes that back. Not the owner: nothing to do here.
        cursor.execute("SELECT pg_has_role(nspowner, 'MEMBER') FROM pg_namespace WHERE nspname = %s", [schema])
        if cursor.fetchone()[0]:
            cursor.execute(f"REVOKE CREATE ON SCHEMA {qs} FROM PUBLIC")
        for privileges, tables in ((ROW_PRIVILEGES, grants.read_write), (APPEND_PRIVILEGES, grants.append_only),
                                   ("SELECT", grants.read_only)):
            if tables:
                names = ", ".join(_ident(connection, t) for t in tables)
                cursor.execute(f"GRANT {privileges} ON TABLE {names} TO {q}")
        if grants.sequences:
            names = ", ".join(_ident(connection, s) for s in grants.sequences)
            cursor.execute(f"GRANT USAGE ON SEQUENCE {names} TO {q}")
    return grants


def problems(role, connection=default_connection):
    """What makes ``role`` unfit to run the application (empty: fit)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = %s",
                       [role])
        row = cursor.fetchone()
        if row is None:
            return ["does not exist"]
        found = []
        superuser, bypassrls, createrole, createdb = row
        if superuser:
            found.append("is a superuser (it could TRUNCATE, ALTER and SET session_replication_role)")
        if bypassrls or createrole or createdb:
            found.append("may create roles or databases or bypass row security")
        cursor.execute(
            "SELECT count(*) FROM pg_class c WHERE c.relnamespace = current_schema()::regnamespace "
            "AND c.relkind IN ('r', 'p', 'S', 'v', 'm') AND pg_has_role(%s, c.relowner, 'MEMBER')", [role])
        if cursor.fetchone()[0]:
            found.append("owns tables (or is a member of their owner): it could ALTER them and disable triggers")
        cursor.execute("SELECT pg_has_role(%s, nspowner, 'MEMBER') FROM pg_namespace "
                       "WHERE oid = current_schema()::regnamespace", [role])
        if cursor.fetchone()[0]:
            found.append("owns the schema")
        if connection.pg_version >= 150000:
            cursor.execute("SELECT has_parameter_privilege(%s, 'session_replication_role', 'SET')", [role])
            if cursor.fetchone()[0]:
                found.append("may SET session_replication_role")
    return found
