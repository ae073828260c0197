"""The shipped CTCAE v5.0 terms (coding/data/ctcae_v5_terms.csv), loaded by the same
idempotent function as ``manage.py load_ctcae`` and ``seed_demo``."""

from django.db import migrations


def load(apps, schema_editor):
    from coding.services import ctcae_load

    ctcae_load(model=apps.get_model("coding", "MeddraTerm"))


class Migration(migrations.Migration):
    dependencies = [("coding", "0001_ha_dictionary")]

    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
