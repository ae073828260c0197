"""Source data verification of any form and of single fields: ``field_name`` (empty:
the whole form, as every existing row). A new column with a constant database
default: no existing row is updated (the tables are append-only)."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('review', '0002_content_types_from_core'),
    ]

    operations = [
        migrations.AddField(
            model_name='historicalsourceverification',
            name='field_name',
            field=models.CharField(blank=True, db_default='', default='', help_text='The one field verified; empty: the whole form.', max_length=100),
        ),
        migrations.AddField(
            model_name='sourceverification',
            name='field_name',
            field=models.CharField(blank=True, db_default='', default='', help_text='The one field verified; empty: the whole form.', max_length=100),
        ),
    ]
