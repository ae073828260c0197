"""Grant the review workflow's permissions: monitors and admins acknowledge and
review adverse events; clinicians and investigators enter follow-ups; every
role reads reviews and follow-ups (clinicians only at their own sites, by
scoping). Nobody deletes."""

from django.db import migrations

from accounts.roles import grant_permissions

READ = {"adverseeventreview": ("view",), "adverseeventfollowup": ("view",)}

MATRIX = {
    "clinician": {"adverseeventreview": ("view",), "adverseeventfollowup": ("view", "add")},
    "investigator": {"adverseeventreview": ("view",), "adverseeventfollowup": ("view", "add")},
    "coordinator": READ,
    "monitor": {"adverseevent": ("review_adverseevent",), "adverseeventreview": ("view", "add"),
                "adverseeventfollowup": ("view",)},
    "admin": {"adverseevent": ("review_adverseevent",), "adverseeventreview": ("view", "add"),
              "adverseeventfollowup": ("view", "add"),
              "historicaladverseeventreview": ("view",), "historicaladverseeventfollowup": ("view",)},
}


def grant(apps, schema_editor):
    grant_permissions(apps, "safety", MATRIX, custom=True)


class Migration(migrations.Migration):
    dependencies = [
        ("safety", "0003_adverse_event_review"),
        ("accounts", "0002_role_groups"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
