"""Read-only case report forms: one renderer for every clinical record.

Each capture app registers, in its ``AppConfig.ready``, the layout of its
records (:func:`register`): the entered fields in the edit form's order (taken
from the form, so the two cannot drift apart) and the derived facts the
services stored. A page then turns a record it has already loaded into a
:class:`CaseReportForm` (:func:`case_report_form`): a list of
:class:`CrfField` (name, label, display value, derived or entered) and the
record's change history, which ``templates/core/includes/_crf.html`` renders as
one table of fields with each field's review state beside it.

The history comes from django-simple-history rows the caller fetched in bulk
(:func:`history_rows`: one query per history model, whatever the number of
records) and grouped per record (:func:`histories`), so a casebook with any
number of cycles runs a constant number of queries.

The kernel knows no clinical model: layouts are keyed by model class and the
records are handed in by the capture apps' pages.
"""

from dataclasses import dataclass, field

from django.core.exceptions import FieldDoesNotExist
from django.utils.text import capfirst

from .history import change_entries, display_plain, display_value, tracked_fields


@dataclass(frozen=True)
class Layout:
    #: The entered fields, in the edit form's order.
    fields: tuple
    #: The derived facts: names of stored fields (or model properties), or ``(name, label)``.
    derived: tuple = ()


@dataclass
class CrfField:
    name: str
    label: str
    value: str
    derived: bool = False
    row_id: str = ""


@dataclass
class CaseReportForm:
    """One record as a read-only form: its fields and its change history (newest first)."""

    record: object
    title: str
    fields: list
    history: list = field(default_factory=list)

    @property
    def model_name(self):
        return self.record._meta.model_name

    @property
    def anchor(self):
        return f"crf-{self.model_name}-{self.record.pk}"

    @property
    def voided(self):
        return getattr(self.record, "voided_at", None) is not None

    @property
    def locked(self):
        return getattr(self.record, "locked_at", None) is not None


_layouts = {}


def register(model, *, fields, derived=()):
    """Declare how ``model``'s records are shown read-only: ``fields`` the entered
    fields in the edit form's order (e.g. ``MyForm._meta.fields``), ``derived`` the
    stored facts (field or property names, or ``(name, label)`` pairs)."""
    _layouts[model] = Layout(fields=tuple(fields), derived=tuple(derived))


def layout_for(model):
    try:
        return _layouts[model]
    except KeyError:
        raise LookupError(f"No case report form layout is registered for {model.__name__}.") from None


def display(record, name):
    """The value of ``name`` on ``record`` as the forms show it: the change log's
    :func:`core.history.display_value` for stored fields (choices by label, related
    records by name, Yes/No, "—"), ISO 8601 dates, times ``H:M`` and date-times
    ``Y-m-d H:M`` in the current time zone (named once on the page)."""
    try:
        model_field = record._meta.get_field(name)
    except FieldDoesNotExist:
        model_field = None
    if model_field is not None and model_field.concrete:
        return display_value(record, model_field)
    return display_plain(getattr(record, name))


def _label(model, name):
    try:
        return capfirst(model._meta.get_field(name).verbose_name)
    except FieldDoesNotExist:
        return capfirst(name.replace("_", " "))


def crf_fields(record):
    """The fields of ``record``'s form: entered ones in the edit form's order, then the
    derived facts; each with its stable row id ``f-<model>-<pk>-<field>``."""
    model = type(record)
    layout = layout_for(model)
    prefix = f"f-{model._meta.model_name}-{record.pk}-"
    rows = []
    for name in layout.fields:
        rows.append(CrfField(name, _label(model, name), display(record, name), False, prefix + name))
    for item in layout.derived:
        name, label = item if isinstance(item, tuple) else (item, _label(model, item))
        rows.append(CrfField(name, capfirst(label), display(record, name), True, prefix + name))
    if getattr(record, "voided_at", None) is not None:
        for name in ("voided_at", "void_reason"):
            rows.append(CrfField(name, _label(model, name), display(record, name), True, prefix + name))
    return rows


def case_report_form(record, *, title=None, history=None):
    """``record`` as a :class:`CaseReportForm`. ``history``: the ``{(model name, pk):
    entries}`` of :func:`histories` (the record's own entries are picked out)."""
    key = (record._meta.model_name, record.pk)
    return CaseReportForm(
        record=record, title=title or f"{capfirst(record._meta.verbose_name)} {record}",
        fields=crf_fields(record), history=(history or {}).get(key, []),
    )


def history_rows(model, *, select_related=(), **filters):
    """The history rows of ``model`` matching ``filters`` in one query, with their user
    and every related record the change log names (the tracked foreign keys, plus
    ``select_related`` for what their names read)."""
    related = [f.name for f in tracked_fields(model) if f.is_relation]
    return list(model.history.filter(**filters)
                .select_related("history_user", *related, *select_related))


def histories(rows, record_label=None):
    """``{(model name, pk): change entries, newest first}`` for history rows of any models."""
    by_record = {}
    for row in rows:
        by_record.setdefault((row.instance_type._meta.model_name, row.id), []).append(row)
    return {key: change_entries(group, record_label=record_label) for key, group in by_record.items()}

