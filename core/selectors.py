"""Kernel reads that other apps provide: the review state of a casebook.

The capture pages show, next to each record, what was added about it (its
signature, its verification, its data queries). Those rows belong to the
``review`` app, which the capture apps never import: ``ReviewConfig.ready``
registers its reader here (:func:`register_review_state`), and the pages call
:func:`review_state`.
"""

_review_state = None


def register_review_state(reader):
    """Install ``reader(patient) -> state``: the object the capture pages read the review
    state from (``review.selectors.ReviewState``: ``signature(record)``,
    ``verification(record)``, ``cycle_queries(number)``, ``rows``,
    ``attach_current_hashes(hashes)``)."""
    global _review_state
    _review_state = reader


def review_state(patient):
    """The patient's review state, from the registered reader (``review.selectors.review_state``)."""
    if _review_state is None:
        raise RuntimeError("No review-state reader is registered: is the review app installed?")
    return _review_state(patient)


def missing_counts(queryset, fields):
    """{field: {"n": records, "blank": empty without a code, code: records with that
    missing-data code (core.missing)}} over ``queryset``, in one aggregate query. A yes/no
    field has no blank (an unticked box is a "no")."""
    from django.db import models
    from django.db.models import Count, Q

    from .missing import MissingCode

    model = queryset.model
    aggregates = {"n": Count("pk")}
    for name in fields:
        if not isinstance(model._meta.get_field(name), models.BooleanField):
            aggregates[f"{name}__blank"] = Count("pk", filter=Q(**{f"{name}__isnull": True})
                                                 & ~Q(missing_codes__has_key=name))
        for code in MissingCode:
            aggregates[f"{name}__{code.value}"] = Count("pk", filter=Q(**{f"missing_codes__{name}": code.value}))
    counts = queryset.order_by().aggregate(**aggregates)
    return {name: {"n": counts["n"], "blank": counts.get(f"{name}__blank", 0),
                   **{code.value: counts[f"{name}__{code.value}"] for code in MissingCode}}
            for name in fields}
