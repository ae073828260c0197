"""The audit tables are append-only: a database trigger refuses UPDATE and DELETE.

Which tables: every django-simple-history table (every model whose name
starts with ``Historical``, in any app), the access events
(``oversight_accessevent``), the export log (``reporting_exportlog``) and the
review tables whose rows are a record of what somebody did or what the rules
found: signatures, source verifications and their invalidations (models of the
``review`` app, tables ``core_signature``, ``core_sourceverification``,
``core_reviewinvalidation``, protected by migration ``core.0003``), the
data-query messages (``core_dataquerymessage``), the adverse-event reviews and
follow-ups (``safety_adverseeventreview``, ``safety_adverseeventfollowup``) and
the protocol deviations (``visits_protocoldeviation``). A state change of a
review row is a new row: an invalidation row ends a signature or verification
(``review.services.after_change``); a second medical review or follow-up supersedes the earlier
one (the latest counts); a deviation's resolution or recomputed description is
a new deviation row that supersedes the open one
(``visits.services.deviations_refresh``).

What protects them:

- In the application, nothing edits or deletes an audit row: no view writes
  to them except by INSERT, the admin shows them read-only (the history page
  of ``SimpleHistoryAdmin``, the read-only ``AccessEvent`` and ``ExportLog``
  admins). The simple-history "Revert" button saves the *live* record with a
  reason for change, which INSERTs a new history row; no history row is
  changed.
- PostgreSQL: the trigger function ``audit_rows_are_append_only()`` and a
  ``BEFORE UPDATE OR DELETE ... FOR EACH ROW`` trigger named
  ``audit_append_only`` on each table raise an exception (SQLSTATE P0001,
  ``django.db.utils.InternalError``). TRUNCATE is not blocked: Django's
  ``flush`` (test teardown, ``manage.py flush``) empties tables with it.
  Production runs the application under a database role that owns nothing
  and has no TRUNCATE privilege, so it can neither TRUNCATE, nor ``ALTER
  TABLE ... DISABLE TRIGGER``, nor ``SET session_replication_role``
  (``manage.py grant_app_role``, see :mod:`oversight.db_role`).
- SQLite: a ``BEFORE UPDATE`` trigger on each table aborts the statement
  (``RAISE(ABORT, ...)``, ``django.db.utils.IntegrityError``). DELETE is
  *not* blocked by a trigger on SQLite, because Django's ``flush`` empties
  SQLite tables with ``DELETE FROM`` (there is no TRUNCATE), and a trigger
  would break every ``TransactionTestCase`` / ``live_server`` test and
  ``manage.py flush``; on SQLite only the application and the admin guard
  against deletion. SQLite is the embedded demo and test store, not the
  production one.

Consequences: a user who has written any history row cannot be deleted (the
``SET NULL`` of ``history_user`` is an UPDATE); deactivate users instead.
Django's user deletion raises the database error.

New audit tables: migration ``oversight.0003_append_only_audit_tables``
protects the tables that exist when it runs. A history table created by a
later migration needs the trigger too: either call
:func:`protect_tables_operation` in that migration, e.g.::

    from oversight.append_only import protect_tables_operation
    operations = [..., protect_tables_operation("visits_historicalnewthing")]

or rely on the ``post_migrate`` receiver (:func:`ensure_protected`, wired in
:mod:`oversight.signals`), which, once 0003 is applied, adds the trigger to
any audit table lacking it after every ``migrate`` (this also re-creates the
triggers SQLite drops when a migration rebuilds a table). The test
``tests/oversight/test_append_only.py`` fails when an audit table is left
unprotected.

A migration that really must rewrite history rows (it should not) calls
:func:`unprotect_tables` and :func:`protect_tables` around the rewrite, in
plain sight of code review.
"""

from django.db import migrations

#: The migration that puts the guard in place; before it, nothing is protected.
GUARD_MIGRATION = ("oversight", "0003_append_only_audit_tables")
FUNCTION = "audit_rows_are_append_only"
PG_TRIGGER = "audit_append_only"
SQLITE_SUFFIX = "__append_only"
#: Audit tables that are not simple-history tables: (app label, model name). The review
#: tables are append-only too: a change of state is a new row.
OTHER_AUDIT_MODELS = (("oversight", "accessevent"), ("reporting", "exportlog"),
                      ("review", "signature"), ("review", "sourceverification"), ("review", "reviewinvalidation"),
                      ("review", "dataquerymessage"), ("safety", "adverseeventreview"),
                      ("safety", "adverseeventfollowup"), ("visits", "protocoldeviation"))
#: The same review models in the migration states before ``review.0001`` (they were in
#: ``core``; same tables). A model a state does not hold is skipped.
_EARLIER_AUDIT_MODELS = (("core", "signature"), ("core", "sourceverification"), ("core", "reviewinvalidation"),
                         ("core", "dataquerymessage"))

_PG_FUNCTION_SQL = f"""
CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION USING
        MESSAGE = 'audit rows are append-only: ' || TG_OP || ' on ' || TG_TABLE_NAME || ' is refused',
        HINT = 'Correct the live record with a reason for change; history is never rewritten.';
END;
$$ LANGUAGE plpgsql
"""


def audit_tables(apps):
    """The audit tables known to ``apps`` (the migration state or the app registry)."""
    tables = {model._meta.db_table for model in apps.get_models()
              if model.__name__.startswith("Historical")}
    for app_label, model_name in OTHER_AUDIT_MODELS + _EARLIER_AUDIT_MODELS:
        try:
            tables.add(apps.get_model(app_label, model_name)._meta.db_table)
        except LookupError:
            pass
    return sorted(tables)


def _sqlite_trigger(table):
    return f"{table}{SQLITE_SUFFIX}"


def protect_tables(connection, tables):
    """Install the append-only trigger on ``tables`` (idempotent)."""
    tables = list(tables)
    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(_PG_FUNCTION_SQL)
            for table in tables:
                cursor.execute(f"DROP TRIGGER IF EXISTS {PG_TRIGGER} ON {qn(table)}")
                cursor.execute(
                    f"CREATE TRIGGER {PG_TRIGGER} BEFORE UPDATE OR DELETE ON {qn(table)} "
                    f"FOR EACH ROW EXECUTE FUNCTION {FUNCTION}()")
        elif connection.vendor == "sqlite":
            for table in tables:
                message = f"audit rows are append-only: UPDATE on {table} is refused"
                cursor.execute(
                    f"CREATE TRIGGER IF NOT EXISTS {qn(_sqlite_trigger(table))} BEFORE UPDATE ON {qn(table)} "
                    f"BEGIN SELECT RAISE(ABORT, '{message}'); END")
        # Other databases: no trigger (the application and the admin remain read-only).


def unprotect_tables(connection, tables, drop_function=False):
    """Remove the trigger from ``tables`` (and the PostgreSQL function if asked)."""
    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for table in tables:
                cursor.execute(f"DROP TRIGGER IF EXISTS {PG_TRIGGER} ON {qn(table)}")
            if drop_function:
                cursor.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}()")
        elif connection.vendor == "sqlite":
            for table in tables:
                cursor.execute(f"DROP TRIGGER IF EXISTS {qn(_sqlite_trigger(table))}")


def protected_tables(connection):
    """The tables that carry the append-only trigger now."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                "WHERE t.tgname = %s AND NOT t.tgisinternal AND pg_table_is_visible(c.oid)",
                [PG_TRIGGER])
        elif connection.vendor == "sqlite":
            cursor.execute("SELECT tbl_name, name FROM sqlite_master WHERE type = 'trigger'")
            return {table for table, name in cursor.fetchall() if name == _sqlite_trigger(table)}
        else:
            return set()
        return {row[0] for row in cursor.fetchall()}


def ensure_protected(connection, apps):
    """Protect every audit table that lacks the trigger, once the guard migration is applied."""
    if connection.vendor not in ("postgresql", "sqlite"):
        return
    from django.db.migrations.recorder import MigrationRecorder

    if GUARD_MIGRATION not in MigrationRecorder(connection).applied_migrations():
        return
    existing = set(connection.introspection.table_names())
    missing = [t for t in audit_tables(apps) if t in existing and t not in protected_tables(connection)]
    if missing:
        protect_tables(connection, missing)


# Migration operations ------------------------------------------------------------

def protect_all(apps, schema_editor):
    """RunPython: guard every audit table of the migration state."""
    protect_tables(schema_editor.connection, audit_tables(apps))


def unprotect_all(apps, schema_editor):
    """RunPython reverse: remove the guard from every audit table, and the function."""
    connection = schema_editor.connection
    existing = set(connection.introspection.table_names())
    tables = (set(audit_tables(apps)) & existing) | protected_tables(connection)
    unprotect_tables(connection, sorted(tables), drop_function=True)


def protect_tables_operation(*tables):
    """A migration operation guarding ``tables`` (for a history table added later)."""

    def forward(apps, schema_editor):
        protect_tables(schema_editor.connection, tables)

    def backward(apps, schema_editor):
        unprotect_tables(schema_editor.connection, tables)

    return migrations.RunPython(forward, backward, elidable=False)
