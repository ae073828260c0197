"""Grant the patients app's permissions to the study roles.

No role may delete a clinical record (none has ``delete_*``)."""

from django.db import migrations

from accounts.roles import grant_permissions

ENTER = ("view", "add", "change")
READ = ("view",)
MODELS = ("patient", "diagnosis", "malignancyhistory")

MATRIX = {
    "clinician": {m: ENTER for m in MODELS},
    "investigator": {m: ENTER for m in MODELS},
    "coordinator": {m: READ for m in MODELS},
    "monitor": {m: READ for m in MODELS},
    "admin": {**{m: ENTER for m in MODELS},
              **{f"historical{m}": READ for m in MODELS}},
}


def grant(apps, schema_editor):
    grant_permissions(apps, "patients", MATRIX)


class Migration(migrations.Migration):
    dependencies = [
        ("patients", "0001_initial"),
        ("accounts", "0002_role_groups"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
