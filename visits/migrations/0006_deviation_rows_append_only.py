"""Protocol deviations become append-only (see ``visits.models.ProtocolDeviation``).

A deviation is no longer resolved or re-described by an UPDATE: a new row
follows it (``predecessor``). The existing rows of each cause (cycle, kind,
day) are linked into one chain, oldest first: before this migration at most
one row of a cause was open and it was the newest, so every linked row but
the last is resolved and stays in the log; outputs do not change.
``oversight.0006`` then puts the append-only trigger on the table.
"""

import django.db.models.deletion
from django.db import migrations, models

from oversight.append_only import unprotect_tables


def link_chains(apps, schema_editor):
    ProtocolDeviation = apps.get_model("visits", "ProtocolDeviation")
    table = ProtocolDeviation._meta.db_table
    # The guard may already be on the table (a new database: oversight.0003 protects the
    # tables it knows); it is put back by oversight.0006 and the post_migrate receiver.
    unprotect_tables(schema_editor.connection, [table])
    previous = {}
    rows = ProtocolDeviation.objects.order_by("pk").values_list("pk", "cycle_id", "kind", "day")
    for pk, cycle_id, kind, day in rows.iterator(chunk_size=2000):
        before = previous.get((cycle_id, kind, day))
        if before is not None:
            ProtocolDeviation.objects.filter(pk=pk).update(predecessor_id=before)
        previous[(cycle_id, kind, day)] = pk


def unlink_chains(apps, schema_editor):
    ProtocolDeviation = apps.get_model("visits", "ProtocolDeviation")
    if ProtocolDeviation.objects.filter(predecessor__isnull=False, predecessor__resolved_at__isnull=True).exists():
        raise RuntimeError("Superseded deviation rows exist: the old schema cannot hold them.")
    unprotect_tables(schema_editor.connection, [ProtocolDeviation._meta.db_table])
    ProtocolDeviation.objects.update(predecessor=None)


class Migration(migrations.Migration):

    dependencies = [
        ('patients', '0005_patient_site_subject_index'),
        ('visits', '0005_lot_product_ascii'),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='protocoldeviation',
            name='deviation_one_open_per_cause',
        ),
        migrations.AddField(
            model_name='historicalprotocoldeviation',
            name='predecessor',
            field=models.ForeignKey(blank=True, db_constraint=False, editable=False, help_text='The previous row of the same cause: the open row this one resolves or re-describes, or the resolved row after which the cause came back.', null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='visits.protocoldeviation'),
        ),
        migrations.AddField(
            model_name='protocoldeviation',
            name='predecessor',
            field=models.OneToOneField(blank=True, editable=False, help_text='The previous row of the same cause: the open row this one resolves or re-describes, or the resolved row after which the cause came back.', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='successor', to='visits.protocoldeviation'),
        ),
        migrations.RunPython(link_chains, unlink_chains, elidable=False),
        migrations.AddConstraint(
            model_name='protocoldeviation',
            constraint=models.UniqueConstraint(condition=models.Q(('predecessor__isnull', True)), fields=('cycle', 'kind', 'day'), name='deviation_one_chain_per_cause'),
        ),
    ]
