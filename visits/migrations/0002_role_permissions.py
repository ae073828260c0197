"""Grant the visits app's permissions to the study roles (no role deletes).

Deviations are written by the rules (``visits.services``), so no role adds
or changes them by hand."""

from django.db import migrations

from accounts.roles import grant_permissions

ENTER = ("view", "add", "change")
READ = ("view",)
ENTERED = ("treatmentcycle", "assessment", "infusion")

MATRIX = {
    "clinician": {**{m: ENTER for m in ENTERED}, "protocoldeviation": READ},
    "investigator": {**{m: ENTER for m in ENTERED}, "protocoldeviation": READ},
    "coordinator": {**{m: READ for m in ENTERED}, "protocoldeviation": READ},
    "monitor": {**{m: READ for m in ENTERED}, "protocoldeviation": READ},
    "admin": {**{m: ENTER for m in ENTERED}, "protocoldeviation": READ,
              **{f"historical{m}": READ for m in ENTERED + ("protocoldeviation",)}},
}


def grant(apps, schema_editor):
    grant_permissions(apps, "visits", MATRIX)


class Migration(migrations.Migration):
    dependencies = [
        ("visits", "0001_initial"),
        ("accounts", "0002_role_groups"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
