"""Review state at the field, for the read-only case report forms and the edit forms.

``{% load review_fields %}{% field_review review record "weight_kg" %}`` renders
``review/includes/_field_review.html`` for one field of one record: the data
queries on that field (and, as they are built, its SDV mark and the monitor's
actions). ``review`` is the page's :class:`review.selectors.ReviewState`
(``core.selectors.review_state(patient)``, loaded once per page), so a field
costs no query.
"""

from django import template

register = template.Library()


@register.inclusion_tag("review/includes/_field_review.html", takes_context=True)
def field_review(context, review, record, field_name=""):
    queries = review.field_queries(record, field_name) if review is not None and record is not None else []
    return {
        "record": record, "field_name": field_name, "queries": queries,
        "open_queries": [q for q in queries if q.status == "open"],
        "answered_queries": [q for q in queries if q.status == "answered"],
        "request": context.get("request"), "perms": context.get("perms"),
    }


@register.inclusion_tag("review/includes/_record_review.html", takes_context=True)
def record_review(context, review, record):
    """The review block of one whole form (record): its signature and source data
    verification state (the page attached the current hashes to ``review``), and the
    queries on the record as a whole."""
    return {
        "record": record,
        "signature": review.signature(record) if review is not None else None,
        "verification": review.verification(record) if review is not None else None,
        "queries": review.field_queries(record, "") if review is not None else [],
        "request": context.get("request"), "perms": context.get("perms"),
    }
