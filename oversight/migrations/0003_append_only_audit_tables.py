"""Audit rows are append-only: a trigger refuses UPDATE and DELETE on every
django-simple-history table, the access events and the export log.

PostgreSQL: function ``audit_rows_are_append_only()`` and a BEFORE UPDATE OR
DELETE trigger per table. SQLite: a BEFORE UPDATE trigger per table (DELETE
stays possible there because Django's flush uses it; see
``oversight/append_only.py``). Other databases: nothing.

The tables are those of the migration state when this runs. A history table
added by a LATER migration needs the trigger as well: add
``oversight.append_only.protect_tables_operation("<table>")`` to that
migration. (Once this migration is applied, the ``post_migrate`` receiver in
``oversight/signals.py`` also protects any audit table found without the
trigger, and ``tests/oversight/test_append_only.py`` fails on one.)
"""

from django.db import migrations

from oversight.append_only import protect_all, unprotect_all


class Migration(migrations.Migration):
    dependencies = [
        ("oversight", "0002_audit_trail_permissions"),
        # The latest migration of each app with audit tables when this was written.
        ("accounts", "0002_role_groups"),
        ("patients", "0003_historicalpatient_renal_risk_and_more"),
        ("visits", "0002_role_permissions"),
        ("safety", "0002_role_permissions"),
        ("reporting", "0002_role_permissions"),
    ]

    operations = [migrations.RunPython(protect_all, unprotect_all, elidable=False)]
