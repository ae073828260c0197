"""No admin for the review rows, on purpose.

Signatures, source verifications, their invalidations and the data-query
messages are append-only (``oversight.append_only``), and every one of them is
written by ``review.services`` (re-authentication, role and site checks,
history rows): a channel that cannot go through those services is read-only,
and the pages (``oversight``'s review screens, the audit trail, the signature
check) already show them. Nothing is registered here.
"""
