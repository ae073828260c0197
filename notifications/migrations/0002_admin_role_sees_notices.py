"""The admin role reads the notices and their e-mail delivery in the Django admin
(read-only: the admin classes allow no change)."""

from django.db import migrations

from accounts.roles import grant_permissions


def grant(apps, schema_editor):
    grant_permissions(apps, "notifications", {"admin": {"notice": ("view",), "notificationpreference": ("view",)}})


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0001_initial"),
        ("accounts", "0006_admin_role_two_factor_permissions"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
