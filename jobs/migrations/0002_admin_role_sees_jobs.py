"""The admin role reads the background jobs in the Django admin: failed ones with their
error, and the periodic runs (read-only: the admin classes allow no change)."""

from django.db import migrations

from accounts.roles import grant_permissions


def grant(apps, schema_editor):
    grant_permissions(apps, "django_tasks_database", {"admin": {"dbtaskresult": ("view",)}})
    grant_permissions(apps, "jobs", {"admin": {"scheduledrun": ("view",)}})


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0001_initial"),
        ("accounts", "0006_admin_role_two_factor_permissions"),
        ("django_tasks_database", "0021_conditional_partial_index_ordering"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
