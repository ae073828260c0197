"""The study-wide audit trail: admins and monitors read and export it; admins
also see the access events in the (read-only) Django admin."""

from django.db import migrations

from accounts.roles import grant_permissions

MATRIX = {
    "admin": {"accessevent": ("view_audit_trail", "view")},
    "monitor": {"accessevent": ("view_audit_trail",)},
}


def grant(apps, schema_editor):
    grant_permissions(apps, "oversight", MATRIX, custom=True)


class Migration(migrations.Migration):
    dependencies = [
        ("oversight", "0001_initial"),
        ("accounts", "0002_role_groups"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
