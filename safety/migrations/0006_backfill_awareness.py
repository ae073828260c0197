"""Existing events: the site's awareness is taken as their entry, so no existing
serious event is flagged late (nothing says when the site learnt of it).

The entry of a serious event is when it was first stored as serious: the
earliest history row with ``serious`` set (its creation, or the correction that
made it serious); the awareness, the due time (24 hours later) and the lateness
(never, with awareness = entry) follow, with the rules version of this
migration. The live rows only: their history keeps what was true when written.
Reversible: the reverse is a no-op, and 0005's reverse drops the columns.
"""

from datetime import timedelta

from django.db import migrations
from django.db.models import Min

RULES_VERSION = "2026.12"  # safety.rules.RULES_VERSION when this was written (frozen here)
WINDOW = timedelta(hours=24)  # safety.rules.EXPEDITED_REVIEW_WINDOW (frozen here)


def backfill(apps, schema_editor):
    AdverseEvent = apps.get_model("safety", "AdverseEvent")
    History = apps.get_model("safety", "HistoricalAdverseEvent")
    first_serious = dict(History.objects.filter(serious=True).order_by().values("id")
                         .annotate(at=Min("history_date")).values_list("id", "at"))
    batch = []
    for event in AdverseEvent.objects.filter(aware_at__isnull=True).order_by("pk").iterator(chunk_size=2000):
        if event.serious:
            event.sae_entered_at = first_serious.get(event.pk) or event.created_at
            event.aware_at = event.sae_entered_at
            event.report_due_at = event.aware_at + WINDOW
        else:
            event.aware_at = event.created_at
        event.reported_late = False
        event.rules_version = RULES_VERSION
        batch.append(event)
        if len(batch) >= 2000:
            AdverseEvent.objects.bulk_update(batch, ["aware_at", "sae_entered_at", "report_due_at",
                                                     "reported_late", "rules_version"])
            batch = []
    if batch:
        AdverseEvent.objects.bulk_update(batch, ["aware_at", "sae_entered_at", "report_due_at",
                                                 "reported_late", "rules_version"])


class Migration(migrations.Migration):

    dependencies = [("safety", "0005_sae_clock_from_awareness")]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
