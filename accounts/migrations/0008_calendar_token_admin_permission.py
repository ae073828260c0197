"""The admin role reads the calendar-feed addresses in the Django admin (to revoke or
regenerate one: ``accounts.admin.CalendarTokenAdmin``); nobody changes a row by hand."""

from django.db import migrations

from accounts.roles import grant_permissions


def grant(apps, schema_editor):
    grant_permissions(apps, "accounts", {"admin": {"calendartoken": ("view",)}})


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0007_calendar_token"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
