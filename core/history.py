"""The change log: who changed which field from what to what, when and why.

Built from django-simple-history rows that the caller has already fetched
(with ``select_related`` for the user and any foreign keys shown), so a page
showing it runs a constant number of queries: rows of one record are paired
in memory, never through ``prev_record`` (one query per row).

Public helpers (used by the pages and by ``oversight.audit``): :func:`change_entries`,
:func:`changes_since`, :func:`describe_changes`, :func:`display_value`, :func:`display_plain`,
:func:`tracked_fields`, and the :class:`ChangeEntry` / :class:`FieldChange` records.

Values are shown in the active language (issue 16): dd/mm/yyyy dates and decimal
commas in French, labels and Yes/No translated. What is stored or exported (the
audit-trail CSV, an export, the API) takes :func:`neutral_display_value` /
:func:`neutral_display_plain` instead: ISO 8601 dates, dot decimals, English labels,
whatever the language of the request that builds it.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal

from django.utils import timezone
from django.utils.formats import date_format, number_format
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.languages import neutral

ACTIONS = {"+": gettext_lazy("created"), "~": gettext_lazy("changed"), "-": gettext_lazy("deleted")}


@dataclass
class FieldChange:
    label: str
    old: str
    new: str


@dataclass
class ChangeEntry:
    record_type: str
    record_label: str
    action: str
    at: datetime
    user: object
    reason: str
    changes: list = field(default_factory=list)
    #: The history row's type: "+" created, "~" changed, "-" deleted (``action`` is its label).
    code: str = ""


def display_value(row, model_field):
    """How the change log shows ``model_field`` of ``row`` (a history row or a live
    record): the choice label, the related object's ``str``, Yes/No, or "—" for
    nothing. The related object must already be loaded (``select_related``) for a
    constant number of queries."""
    name = model_field.name
    if model_field.choices:
        value = getattr(row, name)
        if value in (None, ""):
            return "—"
        return str(dict(model_field.flatchoices).get(value, value))
    if model_field.is_relation:
        related = getattr(row, name, None)
        return "—" if related is None else str(related)
    return display_plain(getattr(row, model_field.attname))


def display_plain(value):
    """How the pages show a plain value, in the active language: "—" for nothing,
    Yes/No, dates in the language's short format (ISO 8601 in English, dd/mm/yyyy in
    French), date-times likewise in the current time zone (which the page names once),
    times ``H:M``, decimals with the language's separator, else ``str``."""
    if value is None or value == "":
        return "—"
    if value is True:
        return _("Yes")
    if value is False:
        return _("No")
    if isinstance(value, datetime):
        local = timezone.localtime(value) if timezone.is_aware(value) else value
        return date_format(local, "SHORT_DATETIME_FORMAT")
    if isinstance(value, date):
        return date_format(value, "SHORT_DATE_FORMAT")
    if isinstance(value, time):
        return value.strftime("%H:%M")
    if isinstance(value, (Decimal, float)):
        return number_format(value, use_l10n=True, force_grouping=False)
    return str(value)


def neutral_display_value(row, model_field):
    """:func:`display_value` in the source language, whatever the request's: what the
    audit-trail CSV and the exports write (ISO 8601 dates, dot decimals, English labels)."""
    with neutral():
        return str(display_value(row, model_field))


def neutral_display_plain(value):
    """:func:`display_plain` in the source language (see :func:`neutral_display_value`)."""
    with neutral():
        return str(display_plain(value))


def tracked_fields(model):
    """The concrete fields of ``model`` a change log compares: all but ``id`` and the
    model's ``CHANGE_LOG_EXCLUDE`` (bookkeeping such as ``version``)."""
    exclude = set(getattr(model, "CHANGE_LOG_EXCLUDE", ())) | {"id"}
    return [f for f in model._meta.concrete_fields if f.name not in exclude]


def change_entries(history_rows, record_label=None):
    """Turn history rows (any models, any order) into change entries, newest first.

    ``record_label(row)`` names the record an entry is about; by default its
    verbose name and primary key.
    """
    by_record = {}
    for row in history_rows:
        model = row.instance_type
        by_record.setdefault((model, row.id), []).append(row)

    entries = []
    for (model, _pk), rows in by_record.items():
        rows.sort(key=lambda r: (r.history_date, r.history_id))
        fields = tracked_fields(model)
        previous = None
        for row in rows:
            entry = ChangeEntry(
                record_type=capfirst(model._meta.verbose_name),
                record_label=record_label(row) if record_label else f"#{row.id}",
                action=ACTIONS.get(row.history_type, row.history_type),
                at=row.history_date,
                user=row.history_user,
                reason=row.history_change_reason or "",
                code=row.history_type,
            )
            if previous is not None:
                for f in fields:
                    old, new = display_value(previous, f), display_value(row, f)
                    if old != new:
                        entry.changes.append(FieldChange(capfirst(f.verbose_name), old, new))
            entries.append(entry)
            previous = row
    entries.sort(key=lambda e: e.at, reverse=True)
    return entries


def changes_since(record, version):
    """What others changed in ``record`` after the ``version`` an editor opened.

    Returns change entries, oldest first, one per saved version above
    ``version`` (two queries: the history rows with their users). Used to
    tell the loser of a lost-update race what the winner changed.
    """
    rows = list(
        record.history.filter(version__gte=version)
        .select_related("history_user")
        .order_by("history_date", "history_id")
    )
    entries = change_entries(rows)
    seen = {row.version for row in rows}
    if version not in seen:  # no baseline row: nothing to compare against
        return []
    entries.sort(key=lambda e: e.at)
    return entries[1:]


def describe_changes(entries, limit=6):
    """One line of plain text for a form error: who changed what from what to what."""
    parts = []
    for entry in entries:
        who = entry.user.get_full_name() or entry.user.get_username() if entry.user else _("someone")
        fields = "; ".join(f"{c.label}: {c.old} → {c.new}" for c in entry.changes[:limit])
        extra = (" " + _("(+%(count)s more)") % {"count": len(entry.changes) - limit}
                 if len(entry.changes) > limit else "")
        reason = " " + _("Reason: “%(reason)s”.") % {"reason": entry.reason} if entry.reason else ""
        parts.append(_("%(who)s changed %(fields)s%(extra)s.") % {
            "who": who, "fields": fields or _("nothing visible"), "extra": extra} + reason)
    return " ".join(parts)
