"""Review state at the field, for the read-only case report forms and the edit forms.

``{% load review_fields %}``, then, with ``review`` the page's
:class:`review.selectors.ReviewState` (``core.selectors.review_state(patient)``,
loaded once per page) and ``record`` a record as the page holds it:

- ``{% field_review review record "weight_kg" %}`` (read-only forms): the field's
  SDV mark (valid, or cleared with the reason), its data queries (open, answered,
  closed, each linking to its thread) and, for a monitor, "verify field" and
  "raise a query on this field".
- ``{% record_review review record %}`` (read-only forms): the form's signature
  and SDV state, the queries on the record as a whole, "verify form".
- ``{% edit_field_queries review record %}`` (edit forms): the open and answered
  queries of the record's fields, each thread beside its field's id with a
  one-step answer box; ``{% flag_query_fields form review record %}`` marks the
  form's fields that have an open query (a class and ``aria-describedby``).
- ``{% edit_review_warning review record %}`` (edit forms): which signatures and
  SDVs saving a change will invalidate.

No tag runs a query: the marks are checked against ``record`` itself (pass a
cycle with its assessment and infusions loaded, or attach the hashes first:
``ReviewState.attach_current_hashes``). Permissions come from
``accounts.scoping.may`` (cached on the user for the request).
"""

from urllib.parse import urlencode

from django import template
from django.db.models import prefetch_related_objects
from django.urls import reverse
from django.utils.formats import date_format
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.scoping import may

register = template.Library()


def _current(row, record):
    """``row`` with the hash of ``record`` as the page holds it (no query), unless attached."""
    if row is not None and "_current_hash" not in row.__dict__:
        row.current_hash = row.hash_now(record)
    return row


def _perms(context, review):
    """What the page's user may do on the patient's records (computed once per page)."""
    request = context.get("request")
    user = getattr(request, "user", None)
    patient = getattr(review, "patient", None)
    if user is None or patient is None:
        return {"verify": False, "raise": False, "answer": False}
    cache = review.__dict__.setdefault("_perms", {})
    if user.pk not in cache:
        site = patient.site_id
        cache[user.pk] = {"verify": may(user, "review.verify_source", site_id=site),
                          "raise": may(user, "review.raise_query", site_id=site),
                          "answer": may(user, "review.answer_query", site_id=site)}
    return cache[user.pk]


def _target(record, field_name):
    return f"{record._meta.model_name}:{record.pk}:{field_name}"


def _field_label(record, field_name):
    if not field_name:
        return ""
    try:
        return capfirst(record._meta.get_field(field_name).verbose_name)
    except Exception:
        return field_name


def _query_field_label(record, query):
    """A query's field named from its code (``field_name``) in the reader's language; the label
    stored with the query (written in the source language) when the record has no such field."""
    try:
        return capfirst(record._meta.get_field(query.field_name).verbose_name) if query.field_name else ""
    except Exception:  # FieldDoesNotExist: a field since removed
        return query.field_label


def _links(context, review, record, field_name):
    request = context.get("request")
    here = request.get_full_path() if request is not None else ""
    patient = review.patient
    target = _target(record, field_name)
    return {
        "target": target,
        "target_id": target.replace(":", "-").rstrip("-"),
        "verify_url": reverse("oversight:record_verify", args=[patient.pk]),
        "query_url": (reverse("oversight:query_create") + "?"
                      + urlencode({"patient": patient.pk, "target": target, "next": here})),
        "next": here,
    }


def _base(context, review, record, field_name):
    data = {"record": record, "field_name": field_name, "field_label": _field_label(record, field_name),
            "csrf_token": context.get("csrf_token"), "request": context.get("request"),
            # No verify or query controls on a voided record (it is out of the data; the raise
            # form does not offer it either), nor where the page says so (inside another form).
            "controls": context.get("review_controls", True) and getattr(record, "voided_at", None) is None}
    if review is None or record is None or getattr(review, "patient", None) is None:
        data.update(queries=[], can_verify=False, can_raise=False)
        return data
    perms = _perms(context, review)
    data.update(_links(context, review, record, field_name))
    data.update(queries=review.field_queries(record, field_name),
                can_verify=perms["verify"] and data["controls"], can_raise=perms["raise"] and data["controls"])
    return data


@register.inclusion_tag("review/includes/_field_review.html", takes_context=True)
def field_review(context, review, record, field_name="", verifiable=True):
    """``verifiable`` false: a derived fact (computed by the rules, not transcribed from a
    source document): no "verify" control (``record_verify`` refuses it too)."""
    data = _base(context, review, record, field_name)
    data["can_verify"] = data["can_verify"] and verifiable
    mark = review.field_mark(record, field_name) if data.get("target") and field_name else None
    data["mark"] = _current(mark, record)
    data["open_queries"] = [q for q in data["queries"] if q.status == "open"]
    data["answered_queries"] = [q for q in data["queries"] if q.status == "answered"]
    return data


@register.inclusion_tag("review/includes/_record_review.html", takes_context=True)
def record_review(context, review, record, with_signature=True):
    """The review block of one whole form (record): its signature (a cycle's; the
    casebook's when the page attached its hash; none when ``with_signature`` is false,
    e.g. the enrolment form, whose SDV is its own but whose signature is the casebook's)
    and source data verification state, the queries on the record as a whole, and
    "verify form" for a monitor."""
    data = _base(context, review, record, "")
    signature = verification = None
    marks = []
    if data.get("target"):
        signature = review.signature(record) if with_signature else None
        if signature is not None and "_current_hash" not in signature.__dict__:
            signature = (_current(signature, record) if getattr(record, "FORM_IS_FINGERPRINT", False) else None)
        verification = _current(review.verification(record), record)
        marks = [_current(mark, record) for mark in review.marks_of(record)]
    data.update(signature=signature, verification=verification,
                marks_valid=sum(1 for mark in marks if mark.is_valid), marks=marks)
    return data


# --- Edit forms ----------------------------------------------------------------

def _pending(review, record):
    """The open and answered queries on ``record``'s fields and on the record itself."""
    if review is None or record is None or getattr(record, "pk", None) is None:
        return []
    key = (record._meta.model_name, record.pk)
    return [q for q in review.queries if (q.content_type.model, q.object_id) == key and q.status != "closed"]


#: The flag written under a field that has a pending data query, by the query's status.
QUERY_FLAGS = {
    "open": gettext_lazy("Data query open: see its thread beside the form."),
    "answered": gettext_lazy("Data query answered: see its thread beside the form."),
}


def thread_id(query):
    return f"query-thread-{query.pk}"


@register.simple_tag
def flag_query_fields(form, review, record, prefix=""):
    """Mark the fields of ``form`` that carry an open or answered query on ``record``: the
    class ``has-query`` on the input and ``aria-describedby`` naming the thread beside it
    (kept with the help text's id). Renders nothing."""
    for query in _pending(review, record):
        if query.field_name not in form.fields:
            continue
        field = form.fields[query.field_name]
        # A visible flag under the field, in its help text (plain words: no markup is written in Python).
        flag = str(QUERY_FLAGS.get(query.status, QUERY_FLAGS["open"]))
        field.help_text = f"{flag} {field.help_text}" if field.help_text else flag
        bound = form[query.field_name]
        attrs = field.widget.attrs
        described = attrs.get("aria-describedby", "")
        if not described and bound.auto_id:
            described = f"{bound.auto_id}_helptext"
        attrs["aria-describedby"] = " ".join(filter(None, [described, thread_id(query)]))
        attrs["class"] = " ".join(filter(None, [attrs.get("class", ""), "has-query"]))
    return ""


@register.inclusion_tag("review/includes/_edit_field_queries.html", takes_context=True)
def edit_field_queries(context, review, record, form=None):
    """The threads of the open and answered queries on ``record`` (an edit form), each
    naming its field (linked to the input when ``form`` holds it) with a one-step answer
    box for the site staff. The answer forms are rendered outside the main form
    (``edit_query_answer_forms``), their inputs point at them (``form=`` attribute)."""
    queries = _pending(review, record)
    request = context.get("request")
    perms = _perms(context, review) if queries else {"answer": False}
    prefetch_related_objects(queries, "messages__author")  # the threads: two queries, whatever their number
    rows = []
    for query in queries:
        field_id = ""
        if form is not None and query.field_name in getattr(form, "fields", {}):
            field_id = form[query.field_name].auto_id or ""
        # The field's name from its code (``field_name``), in the reader's language; the label
        # stored with the query (the source language) where the record has no such field.
        rows.append({"query": query, "id": thread_id(query), "form_id": f"{thread_id(query)}-answer",
                     "field_id": field_id, "field_label": _query_field_label(record, query),
                     "can_answer": perms["answer"] and query.status == "open"})
    return {"rows": rows, "request": request, "record_name": record._meta.verbose_name if record is not None else ""}


@register.inclusion_tag("review/includes/_edit_query_answer_forms.html", takes_context=True)
def edit_query_answer_forms(context, review, record):
    """The (empty) answer forms the answer boxes of :func:`edit_field_queries` submit:
    put them after the main form (HTML forms cannot nest)."""
    request = context.get("request")
    perms = _perms(context, review) if review is not None else {"answer": False}
    queries = [q for q in _pending(review, record) if q.status == "open"] if perms["answer"] else []
    return {"queries": [{"query": q, "form_id": f"{thread_id(q)}-answer"} for q in queries],
            "csrf_token": context.get("csrf_token"),
            "next": request.get_full_path() if request is not None else ""}


def _review_records(record):
    """``record`` and the records whose signature or SDV covers it (innermost first), no query
    for the loaded parents."""
    records = [record]
    for parent in record.review_parents():
        if parent is not None and all(parent is not r and (type(parent), parent.pk) != (type(r), r.pk)
                                      for r in records):
            records.append(parent)
    return records


@register.inclusion_tag("review/includes/_edit_review_warning.html")
def edit_review_warning(review, record, forms=None):
    """Before saving: the signatures and SDVs that a change of ``record`` will invalidate
    (those of the record and of the records covering it, ``record.review_parents()``:
    its cycle, the casebook), and the SDV marks of its fields. Lists the rows the
    application holds valid (no recorded invalidation): the page need not re-hash."""
    items = []
    if review is not None and record is not None and getattr(record, "pk", None) is not None:
        for covered in _review_records(record):
            kind, params = _what(covered)
            signature = review.signature(covered)
            if signature is not None and signature.invalidation is None:
                items.append(str(SIGNATURE_WARNINGS[kind]) % {
                    **params, "signer": signature.signer_name, "date": _date(signature.signed_at)})
            # A parent's form SDV covers this record only when the parent's form holds it (a cycle).
            covers = covered is record or getattr(covered, "FORM_IS_FINGERPRINT", False)
            verification = review.verification(covered) if covers else None
            if verification is not None and verification.invalidation is None:
                items.append(str(SDV_WARNINGS[kind]) % {
                    **params, "monitor": _person(verification.verified_by), "date": _date(verification.verified_at)})
        # The fields verified one by one on this page's records: the record's own and, on a page
        # that edits several records (the cycle page: ``forms``), those of each part.
        parts = [record] + [form.instance for form in (forms or {}).values()
                            if getattr(form.instance, "pk", None) is not None and form.instance is not record]
        labels = []
        for part in parts:
            prefix = "" if part is record else f"{_part_name(part)}: "
            labels += [prefix + str(mark.field_label) for mark in review.marks_of(part) if mark.invalidation is None]
        if labels:
            items.append(_("the source data verification of the changed field(s) among: %(fields)s")
                         % {"fields": ", ".join(labels)})
    return {"items": items}


#: What a change will invalidate, by the kind of record covered (``_what``): whole sentences,
#: so that each language words them its own way.
SIGNATURE_WARNINGS = {
    "casebook": gettext_lazy("the investigator's signature of the casebook (%(signer)s, %(date)s)"),
    "cycle": gettext_lazy("the investigator's signature of cycle %(number)s (%(signer)s, %(date)s)"),
    "form": gettext_lazy("the investigator's signature of this %(form)s (%(signer)s, %(date)s)"),
}
SDV_WARNINGS = {
    "casebook": gettext_lazy("the source data verification of the enrolment form (%(monitor)s, %(date)s)"),
    "cycle": gettext_lazy("the source data verification of cycle %(number)s (%(monitor)s, %(date)s)"),
    "form": gettext_lazy("the source data verification of this %(form)s (%(monitor)s, %(date)s)"),
}


def _what(record):
    """The kind of a covered record (a key of ``SIGNATURE_WARNINGS``) and what names it."""
    if record._meta.model_name == "patient":
        return "casebook", {}
    number = getattr(record, "number", None)
    if number is not None:
        return "cycle", {"number": number}
    return "form", {"form": record._meta.verbose_name}


def _part_name(record):
    day = getattr(record, "day", None)
    return _("day %(day)s infusion") % {"day": day} if day is not None else str(record._meta.verbose_name)


def _date(value):
    """A date as the reader's language writes it (the date of the stored time, as before)."""
    return date_format(value, "SHORT_DATE_FORMAT")


def _person(user):
    return user.get_full_name() or user.get_username()
