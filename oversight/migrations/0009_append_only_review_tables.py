"""The review tables are append-only like the audit tables: the data-query
messages, the adverse-event reviews and follow-ups and the protocol
deviations (``oversight/append_only.py``, ``OTHER_AUDIT_MODELS``). A state
change of one of them is a new row; nothing in the application updates or
deletes them (``visits.0006`` turned the deviation's resolution into a new row).
"""

from django.db import migrations

from oversight.append_only import protect_tables_operation

REVIEW_TABLES = ("core_dataquerymessage", "safety_adverseeventreview", "safety_adverseeventfollowup",
                 "visits_protocoldeviation")


class Migration(migrations.Migration):
    dependencies = [
        ("oversight", "0008_access_kinds_password_two_factor"),
        ("core", "0002_role_permissions"),
        ("safety", "0004_review_permissions"),
        ("visits", "0006_deviation_rows_append_only"),
    ]

    operations = [protect_tables_operation(*REVIEW_TABLES)]
