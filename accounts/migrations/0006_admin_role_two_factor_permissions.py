"""The admin role's permissions on two-factor authentication, now that no
administrator is a superuser: edit which roles require it (``RolePolicy``),
and list and remove (never add or change) users' authenticators, for a lost
phone. The device admin never shows a key (``accounts.admin``)."""

from django.db import migrations

from accounts.roles import grant_permissions


def grant(apps, schema_editor):
    grant_permissions(apps, "accounts", {"admin": {"rolepolicy": ("view", "change")}})
    grant_permissions(apps, "otp_totp", {"admin": {"totpdevice": ("view", "delete")}})


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0005_password_age_role_policy"),
        ("otp_totp", "0003_add_timestamps"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
