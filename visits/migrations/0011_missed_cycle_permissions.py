"""Grant the missed-cycle record's permissions: entered by the site roles, read by all."""

from django.db import migrations

from accounts.roles import grant_permissions

ENTER = ("view", "add", "change")
READ = ("view",)

MATRIX = {
    "clinician": {"missedcycle": ENTER},
    "investigator": {"missedcycle": ENTER},
    "coordinator": {"missedcycle": READ},
    "monitor": {"missedcycle": READ},
    "admin": {"missedcycle": ENTER, "historicalmissedcycle": READ},
}


def grant(apps, schema_editor):
    grant_permissions(apps, "visits", MATRIX)


class Migration(migrations.Migration):
    dependencies = [
        ("visits", "0010_missed_cycle"),
        ("accounts", "0002_role_groups"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
