"""The study-wide audit trail: reads (selectors) only.

One list, newest first, of every django-simple-history row of every model
that has history (the clinical records, sites and memberships, signatures,
data queries, ...), the access events (logins, logouts, failed logins,
audit-trail exports) and the cohort exports.

How it stays at a constant number of queries whatever the size:

1. :func:`audit_union` builds ONE database-side ``UNION ALL`` of ``values()``
   with the same columns from every source (``a_at``, ``a_kind``, ``a_row``,
   ``a_action``, ``a_user``, ``a_reason``, ``a_record``, ``a_patient``); the
   filters are applied to each branch, and the database orders, counts and
   slices the union (``ORDER BY a_at DESC, a_kind DESC, a_row DESC``: a total
   order, as (kind, row) is unique).
2. :func:`audit_entries` turns one slice into entries: per model present in
   the slice, one query for its full rows (with the user and the foreign keys
   shown, and the id of each row's previous history row annotated) and one
   query for those previous rows (for the field diffs); plus one query for
   the patients' subject ids. Bounded by the number of models, not the rows.

A void is a change row whose ``voided_at`` went from empty to set (models
with ``voided_at``); it is computed in the database, so the action filter
finds voids. A deletion (``-``, which the app never does) shows as "delete".
Infusion history has only ``cycle_id``: its patient comes from a subquery on
the cycle (generally: a model without ``patient`` reaches it through the first
foreign key whose target has one).

The CSV (:func:`iter_audit_entries`) walks the same ordered union by keyset
pagination, ``chunk_size`` rows at a time: each chunk is a fresh union query
"after the last (date, kind, row) seen", so memory holds one chunk, whatever
the size of the trail, and rows written while the export streams (newer than
its first row) do not shift it.

Scoping: study-wide roles see everything. A site-bound user (should one ever
hold the permission) sees only the rows linked to patients of their sites,
with ``accounts.scoping.scope_to_user_sites`` semantics, and no site,
membership, access or export rows.
"""

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from functools import cache

from django.apps import apps
from django.db import models
from django.db.models import Case, F, OuterRef, Q, Subquery, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.languages import neutral

from accounts.scoping import access_for, scope_to_user_sites
from core.history import FieldChange, display_value, tracked_fields

from .models import AccessKind

#: The actions' labels: the screen's language; the CSV is written under ``neutral()`` (English).
ACTIONS = {
    "create": gettext_lazy("create"), "change": gettext_lazy("change"), "void": gettext_lazy("void"),
    "delete": gettext_lazy("delete"), "login": gettext_lazy("login"), "logout": gettext_lazy("logout"),
    "login_failed": gettext_lazy("failed login"), "audit_export": gettext_lazy("audit-trail export"),
    "export": gettext_lazy("export"),
}
HISTORY_ACTIONS = frozenset({"create", "change", "void", "delete"})
ACCESS_ACTIONS = frozenset(AccessKind.values)
ACCESS_KIND = "oversight.accessevent"
EXPORT_KIND = "reporting.exportlog"
COLUMNS = ("a_at", "a_kind", "a_row", "a_action", "a_user", "a_reason", "a_record", "a_patient")
ORDERING = ("-a_at", "-a_kind", "-a_row")
PAGE_SIZE = 50
CSV_CHUNK_SIZE = 500
CSV_HEADER = ["when", "user", "patient", "record type", "record", "action", "field", "old", "new",
              "reason"]
EMPTY = "—"

# How a record is named in the trail, per live model; "#<id>" otherwise. In the active
# language (the CSV is built under ``neutral()``); dates ISO, as the trail's values.
_LABELS = {
    "patients.patient": lambda r: r.subject_id,
    "patients.diagnosis": lambda r: str(r.get_kind_display()),
    "patients.malignancyhistory": lambda r: r.malignancy_type,
    "visits.treatmentcycle": lambda r: _("Cycle %(number)s") % {"number": r.number},
    "visits.assessment": lambda r: f"{r.get_timepoint_display()} {r.assessment_date}",
    "visits.infusion": lambda r: _("Cycle %(number)s day %(day)s") % {
        "number": r.cycle.number if r.cycle else "?", "day": r.day},
    "visits.protocoldeviation": lambda r: str(r.get_kind_display()),
    "safety.adverseevent": lambda r: _("%(term)s (grade %(grade)s)") % {"term": r.term, "grade": r.grade},
    "accounts.site": lambda r: f"{r.code} {r.name}",
    "editchecks.editchecksetting": lambda r: r.check_id,
    "review.reviewinvalidation": lambda r: (_("Signature #%(id)s") % {"id": r.signature_id} if r.signature_id
                                            else _("Source verification #%(id)s") % {"id": r.verification_id}),
    "accounts.membership": lambda r: "%s: %s (%s)" % (r.user or "?", r.get_role_display(),
                                                      r.site.code if r.site else _("all sites")),
}
# Relations a label needs beyond those the diff shows.
_LABEL_RELATED = {"visits.infusion": ("cycle",), "accounts.membership": ("user", "site")}


# Filters ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class AuditFilters:
    """What the trail is narrowed to. Dates are inclusive, in ``zone`` (the display zone)."""

    subject_id: str = ""
    kind: str = ""
    user_id: int | None = None
    date_from: date | None = None
    date_to: date | None = None
    action: str = ""

    def as_dict(self):
        """The filters that are set, as JSON-friendly values (for the export's access event)."""
        values = {"patient": self.subject_id, "record_type": self.kind, "user": self.user_id,
                  "from": self.date_from and self.date_from.isoformat(),
                  "to": self.date_to and self.date_to.isoformat(), "action": self.action}
        return {k: v for k, v in values.items() if v not in (None, "")}


def _day_start(day, zone):
    return timezone.make_aware(datetime.combine(day, datetime.min.time()), zone)


# Sources ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Source:
    """One table of the trail and how it maps to the union's columns."""

    kind: str  # the live model's label, e.g. "patients.patient"
    label: str  # "Patient"
    model: type  # the table read (historical model, AccessEvent or ExportLog)
    is_history: bool
    has_patient: bool
    voidable: bool = False
    related: tuple = ()  # select_related of the full rows

    @property
    def live_model(self):
        return self.model.instance_type if self.is_history else self.model

    @property
    def record_field(self):
        """The live record's key as the table names it ("id", or "user_id" for a profile)."""
        return self.live_model._meta.pk.attname

    def patient_expression(self):
        live = self.live_model
        if live._meta.label_lower == "patients.patient":
            return F("id")
        fields = {f.name: f for f in live._meta.concrete_fields}
        if "patient" in fields and fields["patient"].is_relation:
            return F("patient_id")
        for f in live._meta.concrete_fields:
            target = f.related_model if f.is_relation else None
            if target is not None and any(g.name == "patient" and g.is_relation
                                          for g in target._meta.concrete_fields):
                return Subquery(target._base_manager.filter(pk=OuterRef(f.attname))
                                .order_by().values("patient_id")[:1])
        return Value(None, output_field=models.BigIntegerField())

    def previous_rows(self):
        """The history rows of the same record just before OuterRef's row."""
        before = (Q(history_date__lt=OuterRef("history_date"))
                  | Q(history_date=OuterRef("history_date"), history_id__lt=OuterRef("history_id")))
        key = self.record_field
        return (self.model._base_manager.filter(before, **{key: OuterRef(key)})
                .order_by("-history_date", "-history_id"))

    def branch(self):
        """The source as the union's columns (all annotations, in one order)."""
        qs = self.model._base_manager.order_by()
        if self.is_history:
            if self.voidable:
                qs = qs.alias(a_prev_voided=Subquery(self.previous_rows().values("voided_at")[:1]))
                # The previous row is read only for rows that are voided (CASE is lazy).
                void = [When(voided_at__isnull=False, then=Case(
                    When(a_prev_voided__isnull=True, then=Value("void")), default=Value("change"),
                    output_field=models.CharField()))]
            else:
                void = []
            action = Case(When(history_type="+", then=Value("create")),
                          When(history_type="-", then=Value("delete")),
                          *void, default=Value("change"), output_field=models.CharField())
            columns = {"a_at": F("history_date"), "a_kind": Value(self.kind, output_field=models.CharField()),
                       "a_row": F("history_id"), "a_action": action, "a_user": F("history_user_id"),
                       "a_reason": Coalesce(F("history_change_reason"), Value(""),
                                            output_field=models.TextField()),
                       "a_record": F(self.record_field), "a_patient": self.patient_expression()}
        else:
            action = F("kind") if self.kind == ACCESS_KIND else Value("export", output_field=models.CharField())
            columns = {"a_at": F("at"), "a_kind": Value(self.kind, output_field=models.CharField()),
                       "a_row": F("id"), "a_action": action, "a_user": F("user_id"),
                       "a_reason": Value("", output_field=models.TextField()), "a_record": F("id"),
                       "a_patient": Value(None, output_field=models.BigIntegerField())}
        return qs.annotate(**{name: columns[name] for name in COLUMNS})

    def fetch(self, row_ids):
        """Full rows by id (history_id for history), keyed by id, with their previous rows."""
        qs = self.model._base_manager.select_related(*self.related)
        if not self.is_history:
            return {obj.pk: (obj, None) for obj in qs.filter(pk__in=row_ids)}
        rows = list(qs.filter(history_id__in=row_ids).annotate(
            a_prev_id=Subquery(self.previous_rows().values("history_id")[:1])))
        prev_ids = [r.a_prev_id for r in rows if r.a_prev_id is not None and r.history_type != "+"]
        previous = {p.history_id: p for p in qs.filter(history_id__in=prev_ids)} if prev_ids else {}
        return {r.history_id: (r, previous.get(r.a_prev_id)) for r in rows}


def _display_related(model):
    """select_related paths so that showing the model's tracked foreign keys
    (``str(related)``) needs no further query."""
    paths = []
    for f in tracked_fields(model):
        if not f.is_relation:
            continue
        paths.append(f.name)
        for g in f.related_model._meta.concrete_fields:
            if g.is_relation and g.name in ("patient", "cycle"):
                paths.append(f"{f.name}__{g.name}")
                if g.name == "cycle":
                    paths.append(f"{f.name}__cycle__patient")
    return paths


@cache
def sources():
    """Every table of the trail, keyed by kind, in the order of their (English) labels.
    The labels are lazy: shown in the active language."""
    found = []
    for model in apps.get_models():
        live = getattr(model, "instance_type", None)
        if not (model.__name__.startswith("Historical") and live is not None):
            continue
        kind = live._meta.label_lower
        related = ("history_user", *_display_related(live), *_LABEL_RELATED.get(kind, ()))
        source = Source(kind=kind, label=capfirst(live._meta.verbose_name), model=model,
                        is_history=True, has_patient=False,
                        voidable=any(f.name == "voided_at" for f in live._meta.concrete_fields),
                        related=tuple(dict.fromkeys(related)))
        has_patient = not isinstance(source.patient_expression(), Value)
        found.append(replace(source, has_patient=has_patient))
    for kind, label in ((ACCESS_KIND, gettext_lazy("Access event")), (EXPORT_KIND, gettext_lazy("Export"))):
        found.append(Source(kind=kind, label=label, model=apps.get_model(kind), is_history=False,
                            has_patient=False, related=("user",)))
    with neutral():
        found.sort(key=lambda s: str(s.label))
    return {s.kind: s for s in found}


def record_types():
    """(kind, label) choices for the record-type filter, in the order of the active language's labels."""
    return sorted(((s.kind, s.label) for s in sources().values()), key=lambda choice: str(choice[1]).lower())


# The union -------------------------------------------------------------------------------

def _keyset(source, after):
    """Rows strictly after ``after`` = (at, kind, row) in the trail's (descending) order."""
    at, kind, row = after
    if source.kind < kind:
        return Q(a_at__lte=at)
    if source.kind == kind:
        return Q(a_at__lt=at) | Q(a_at=at, a_row__lt=row)
    return Q(a_at__lt=at)


def _may_have(source, action):
    if source.is_history:
        return action in HISTORY_ACTIONS and (action != "void" or source.voidable)
    return action in ACCESS_ACTIONS if source.kind == ACCESS_KIND else action == "export"


def audit_union(*, user, filters, zone=None, after=None):
    """The trail's rows (dicts of COLUMNS) as one unordered UNION ALL, or None
    when no source can match."""
    zone = zone or timezone.get_current_timezone()
    access = access_for(user)
    site_bound = not access.study_wide
    patients = None
    if filters.subject_id:
        from patients.models import Patient
        patients = Patient._base_manager.filter(subject_id=filters.subject_id.strip()).values("pk")
    scoped = None
    if site_bound:
        from patients.models import Patient
        scoped = scope_to_user_sites(Patient._base_manager.all(), user).values("pk")

    branches = []
    for source in sources().values():
        if filters.kind and source.kind != filters.kind:
            continue
        if (patients is not None or site_bound) and not source.has_patient:
            continue
        if filters.action and not _may_have(source, filters.action):
            continue
        qs = source.branch()
        if patients is not None:
            qs = qs.filter(a_patient__in=patients)
        if scoped is not None:
            qs = qs.filter(a_patient__in=scoped)
        if filters.user_id:
            qs = qs.filter(a_user=filters.user_id)
        if filters.action:
            qs = qs.filter(a_action=filters.action)
        if filters.date_from:
            qs = qs.filter(a_at__gte=_day_start(filters.date_from, zone))
        if filters.date_to:
            qs = qs.filter(a_at__lt=_day_start(filters.date_to + timedelta(days=1), zone))
        if after is not None:
            qs = qs.filter(_keyset(source, after))
        branches.append(qs.values(*COLUMNS))
    if not branches:
        return None
    first, *rest = branches
    return first.union(*rest, all=True) if rest else first


def audit_trail(*, user, filters, zone=None):
    """The ordered trail, ready for a Paginator (count and slice run in the database)."""
    union = audit_union(user=user, filters=filters, zone=zone)
    if union is None:
        from .models import AccessEvent
        return AccessEvent.objects.none()  # nothing can match: an empty page
    return union.order_by(*ORDERING)


# Entries ---------------------------------------------------------------------------------

@dataclass
class AuditEntry:
    at: datetime
    kind: str
    row_id: int
    record_type: str
    record_label: str
    action: str
    user: object
    username: str
    patient_id: int | None
    subject_id: str
    reason: str
    changes: list = field(default_factory=list)  # FieldChange(label, old, new)
    details: list = field(default_factory=list)  # (label, value) of access events and exports

    @property
    def action_label(self):
        return ACTIONS.get(self.action, self.action)


def _value(row, model_field, zone):
    if isinstance(model_field, models.DateTimeField):
        value = getattr(row, model_field.attname)
        if value is None:
            return EMPTY
        return timezone.localtime(value, zone).isoformat(sep=" ", timespec="seconds")
    return display_value(row, model_field)


def _history_changes(source, row, previous, action, zone):
    fields = tracked_fields(source.live_model)
    if action == "create" or (previous is None and action != "delete"):
        # The first entry: every value entered, from nothing.
        return [FieldChange(capfirst(f.verbose_name), EMPTY, new)
                for f in fields if (new := _value(row, f, zone)) != EMPTY]
    if previous is None:
        return []
    changes = []
    for f in fields:
        old, new = _value(previous, f, zone), _value(row, f, zone)
        if old != new:
            changes.append(FieldChange(capfirst(f.verbose_name), old, new))
    return changes


def _pairs(mapping):
    return ", ".join(f"{k}={v}" for k, v in sorted((mapping or {}).items())) or EMPTY


def _event_details(source, obj):
    if source.kind == ACCESS_KIND:
        details = [(_("User name"), obj.username or EMPTY), (_("IP address"), obj.ip_address or EMPTY),
                   (_("User agent"), obj.user_agent or EMPTY)]
        if obj.detail:
            filters = obj.detail.get("filters")
            details += [(_("Filters"), _pairs(filters))] if filters is not None else []
            # The detail's keys are codes, shown as stored (data, not labels).
            details += [(k.replace("_", " ").capitalize(), str(v))
                        for k, v in sorted(obj.detail.items()) if k != "filters"]
        return str(obj.get_kind_display()), details
    return f"{obj.format} ({obj.channel})", [
        (_("Format"), obj.format), (_("Channel"), obj.channel), (_("Filters"), _pairs(obj.filters)),
        (_("Row counts"), _pairs(obj.row_counts))]


def audit_entries(rows, zone=None):
    """Entries for union rows (one page or one chunk), in the rows' order."""
    zone = zone or timezone.get_current_timezone()
    ids_by_kind = defaultdict(list)
    for r in rows:
        ids_by_kind[r["a_kind"]].append(r["a_row"])
    fetched = {kind: sources()[kind].fetch(ids) for kind, ids in ids_by_kind.items()}
    patient_ids = {r["a_patient"] for r in rows if r["a_patient"] is not None}
    subject_ids = {}
    if patient_ids:
        from patients.models import Patient
        subject_ids = dict(Patient._base_manager.filter(pk__in=patient_ids).values_list("pk", "subject_id"))

    entries = []
    for r in rows:
        source = sources()[r["a_kind"]]
        obj, previous = fetched[source.kind].get(r["a_row"], (None, None))
        if obj is None:  # cannot happen in an append-only trail; skip rather than fail
            continue
        if source.is_history:
            user = obj.history_user
            label = _LABELS.get(source.kind, lambda o: f"#{getattr(o, source.record_field)}")(obj)
            changes = _history_changes(source, obj, previous, r["a_action"], zone)
            details = []
        else:
            user = obj.user
            label, details = _event_details(source, obj)
            changes = []
        username = user.get_username() if user is not None else getattr(obj, "username", "") or ""
        entries.append(AuditEntry(
            at=r["a_at"], kind=source.kind, row_id=r["a_row"], record_type=source.label,
            record_label=label, action=r["a_action"], user=user, username=username,
            patient_id=r["a_patient"], subject_id=subject_ids.get(r["a_patient"], ""),
            reason=r["a_reason"] or "", changes=changes, details=details,
        ))
    return entries


# The export ------------------------------------------------------------------------------

def iter_audit_entries(*, user, filters, zone=None, chunk_size=None):
    """Every matching entry, newest first, ``chunk_size`` union rows per query
    (keyset pagination on (date, kind, row)): memory stays flat."""
    zone = zone or timezone.get_current_timezone()
    chunk_size = chunk_size or CSV_CHUNK_SIZE
    after = None
    while True:
        union = audit_union(user=user, filters=filters, zone=zone, after=after)
        if union is None:
            return
        rows = list(union.order_by(*ORDERING)[:chunk_size])
        yield from audit_entries(rows, zone=zone)
        if len(rows) < chunk_size:
            return
        last = rows[-1]
        after = (last["a_at"], last["a_kind"], last["a_row"])


def audit_csv_rows(entries, zone=None):
    """One CSV row (dict keyed by CSV_HEADER) per changed field; an entry with
    no field change gives one row per detail, or a single row. Strings, in the
    active language: the export wraps it all in :func:`neutral_iter` (English)."""
    for e in entries:
        at = timezone.localtime(e.at, zone).isoformat(timespec="seconds")
        base = {"when": at, "user": e.username, "patient": e.subject_id, "record type": str(e.record_type),
                "record": str(e.record_label), "action": str(e.action_label), "reason": e.reason}
        lines = [(c.label, c.old, c.new) for c in e.changes] or [(k, "", v) for k, v in e.details]
        for field_label, old, new in lines or [("", "", "")]:
            yield {**base, "field": str(field_label), "old": str(old), "new": str(new)}
