"""Grant the safety app's permissions to the study roles (no role deletes)."""

from django.db import migrations

from accounts.roles import grant_permissions

MATRIX = {
    "clinician": {"adverseevent": ("view", "add", "change")},
    "investigator": {"adverseevent": ("view", "add", "change")},
    "coordinator": {"adverseevent": ("view",)},
    "monitor": {"adverseevent": ("view",)},
    "admin": {"adverseevent": ("view", "add", "change"), "historicaladverseevent": ("view",)},
}


def grant(apps, schema_editor):
    grant_permissions(apps, "safety", MATRIX)


class Migration(migrations.Migration):
    dependencies = [
        ("safety", "0001_initial"),
        ("accounts", "0002_role_groups"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
