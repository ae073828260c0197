"""The content types of the moved models follow them from ``core`` to ``review``.

Their permissions hang on the content types (``core.sign_record`` is now
``review.sign_record``, ``core.view_dataquery`` ``review.view_dataquery`` ...):
re-labelling the existing rows keeps every grant to the roles' groups (and to
users), the admin's log entries and nothing else changes. Without it Django would
create new ``review`` content types and permissions that no role holds.

Reversible: the reverse re-labels them ``core``.
"""

from django.db import migrations

MODELS = ("signature", "sourceverification", "reviewinvalidation", "dataquery", "dataquerymessage",
          "historicalsignature", "historicalsourceverification", "historicalreviewinvalidation",
          "historicaldataquery", "historicaldataquerymessage")


def _relabel(apps, old, new):
    from django.contrib.contenttypes.models import ContentType as LiveContentType

    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    for model in MODELS:
        source = ContentType.objects.filter(app_label=old, model=model).first()
        if source is None:
            continue
        target = ContentType.objects.filter(app_label=new, model=model).first()
        if target is not None:
            # Created by a post_migrate between the two migrations: keep the source's rows
            # (the roles' grants), give it the target's permissions it lacks, drop the target.
            have = set(Permission.objects.filter(content_type=source).values_list("codename", flat=True))
            Permission.objects.filter(content_type=target).exclude(codename__in=have).update(content_type=source)
            target.delete()
        source.app_label = new
        source.save(update_fields=["app_label"])
    LiveContentType.objects.clear_cache()


def forward(apps, schema_editor):
    _relabel(apps, "core", "review")


def backward(apps, schema_editor):
    _relabel(apps, "review", "core")


class Migration(migrations.Migration):

    dependencies = [
        ("review", "0001_initial"),
        ("core", "0002_role_permissions"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(forward, backward)]
