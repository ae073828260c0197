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
