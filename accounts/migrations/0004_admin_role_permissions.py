"""The admin role's own permissions, now that no account is a superuser by role.

What an administrator does in the Django admin: sites, staff accounts and
their memberships (roles), unlocking accounts (``change_user``), reading the
login records of django-axes, and revoking (never creating) API tokens. The
clinical permissions of the role (data entry, locks, SDV, queries, AE review,
audit trail, report and exports) are granted by each app's own migration; the
investigator's signature and answering the sites' queries are not the
administrator's.

Also forgets the tokens of ``rest_framework.authtoken``, which were stored in
clear text (the table is emptied when it exists): their owners create new,
hashed ones on /api/token/.
"""

from django.db import migrations

from accounts.roles import grant_permissions

ADMIN_MATRIX = [
    ("accounts", {"site": ("view", "add", "change"),
                  "membership": ("view", "add", "change", "delete"),
                  "historicalsite": ("view",), "historicalmembership": ("view",)}),
    ("auth", {"user": ("view", "add", "change")}),
    ("axes", {"accessattempt": ("view",), "accesslog": ("view",), "accessfailurelog": ("view",)}),
    ("knox", {"authtoken": ("view", "delete")}),
]


def grant(apps, schema_editor):
    for app_label, matrix in ADMIN_MATRIX:
        grant_permissions(apps, app_label, {"admin": matrix})


def forget_clear_text_tokens(apps, schema_editor):
    connection = schema_editor.connection
    if "authtoken_token" in connection.introspection.table_names():
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM authtoken_token")


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_site_code_ascii_digits"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("axes", "0010_accessattemptexpiration"),
        ("knox", "0009_extend_authtoken_field"),
    ]

    operations = [
        migrations.RunPython(grant, migrations.RunPython.noop),
        migrations.RunPython(forget_clear_text_tokens, migrations.RunPython.noop),
    ]
