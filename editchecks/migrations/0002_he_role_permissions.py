"""Every study role reads the edit checks' page (their open counts are scoped to the user's
sites); the admin role switches a check off or on (``change_editchecksetting``)."""

from django.db import migrations

from accounts.roles import grant_permissions


def grant(apps, schema_editor):
    grant_permissions(apps, "editchecks", {
        "clinician": {"editchecksetting": ("view",)},
        "investigator": {"editchecksetting": ("view",)},
        "coordinator": {"editchecksetting": ("view",)},
        "monitor": {"editchecksetting": ("view",)},
        "admin": {"editchecksetting": ("view", "change")},
    })


class Migration(migrations.Migration):
    dependencies = [
        ("editchecks", "0001_he_initial"),
        ("accounts", "0006_admin_role_two_factor_permissions"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
