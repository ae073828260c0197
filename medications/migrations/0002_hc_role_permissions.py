"""Grant the medications app's permissions to the study roles (as the AEs': no role deletes)."""

from django.db import migrations

from accounts.roles import grant_permissions

MATRIX = {
    "clinician": {"concomitantmedication": ("view", "add", "change")},
    "investigator": {"concomitantmedication": ("view", "add", "change")},
    "coordinator": {"concomitantmedication": ("view",)},
    "monitor": {"concomitantmedication": ("view",)},
    "admin": {"concomitantmedication": ("view", "add", "change"), "historicalconcomitantmedication": ("view",)},
}


def grant(apps, schema_editor):
    grant_permissions(apps, "medications", MATRIX)


class Migration(migrations.Migration):
    dependencies = [
        ("medications", "0001_hc_initial"),
        ("accounts", "0002_role_groups"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
