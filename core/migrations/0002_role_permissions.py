"""Review permissions: investigators sign; monitors verify and raise queries;
clinicians and investigators answer them; admins lock (checked by role)."""

from django.db import migrations

from accounts.roles import grant_permissions

EVERYONE_READS = {"signature": ("view_signature",), "sourceverification": ("view_sourceverification",),
                  "dataquery": ("view_dataquery",)}

MATRIX = {
    "clinician": {**EVERYONE_READS, "dataquery": ("view_dataquery", "answer_query")},
    "investigator": {**EVERYONE_READS, "signature": ("view_signature", "sign_record"),
                     "dataquery": ("view_dataquery", "answer_query")},
    "coordinator": EVERYONE_READS,
    "monitor": {**EVERYONE_READS, "sourceverification": ("view_sourceverification", "verify_source"),
                "dataquery": ("view_dataquery", "raise_query")},
    "admin": {**EVERYONE_READS, "sourceverification": ("view_sourceverification", "verify_source"),
              "dataquery": ("view_dataquery", "raise_query")},
}


def grant(apps, schema_editor):
    grant_permissions(apps, "core", MATRIX, custom=True)


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0001_initial"),
        ("accounts", "0002_role_groups"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
