"""The report: coordinators, monitors, admins. Exports: coordinators and admins.
The export log is read by admins."""

from django.db import migrations

from accounts.roles import grant_permissions

MATRIX = {
    "coordinator": {"exportlog": ("view_report", "export_cohort")},
    "monitor": {"exportlog": ("view_report",)},
    "admin": {"exportlog": ("view_report", "export_cohort", "view")},
}


def grant(apps, schema_editor):
    grant_permissions(apps, "reporting", MATRIX, custom=True)


class Migration(migrations.Migration):
    dependencies = [
        ("reporting", "0001_initial"),
        ("accounts", "0002_role_groups"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
