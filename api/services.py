"""API tokens: created by their owner only, shown once, revoked by the owner or
an administrator; each creation and revocation is an access event.

Tokens are django-rest-knox ``AuthToken`` rows: a SHA-512 digest and the
token's first characters (``token_key``), never the token itself.
"""

from django.db import transaction
from knox.models import get_token_model

from oversight.models import AccessEvent, AccessKind

#: Characters of a token shown to identify it (its owner's list, the admin, the trail).
PREFIX_LENGTH = 8


def token_prefix(token):
    """The first characters of a stored token, enough to recognise it, not to use it."""
    return token.token_key[:PREFIX_LENGTH]


def tokens_of(user):
    """The user's live tokens, newest first (the list never holds a secret)."""
    return get_token_model().objects.filter(user=user).order_by("-created")


@transaction.atomic
def token_create(*, user, request=None):
    """A new token for ``user``, who must be the requester: nobody creates a
    token for somebody else. Returns ``(AuthToken, token)``: the token is
    shown once and never stored."""
    if request is not None and request.user.pk != user.pk:
        raise PermissionError("A token is created by its owner only.")
    instance, token = get_token_model().objects.create(user=user)
    AccessEvent.objects.record(kind=AccessKind.TOKEN_CREATED, request=request, user=user,
                               detail={"token": token_prefix(instance),
                                       "expires": instance.expiry.isoformat() if instance.expiry else None})
    return instance, token


@transaction.atomic
def token_revoke(*, token, by, request=None, reason=""):
    """Delete one token (its owner's or an administrator's act); its clients are
    refused from the next request on."""
    detail = {"token": token_prefix(token), "by": by.get_username() if by is not None else "the system"}
    if reason:
        detail["reason"] = reason
    owner = token.user
    token.delete()
    AccessEvent.objects.record(kind=AccessKind.TOKEN_REVOKED, request=request, user=owner, detail=detail)


@transaction.atomic
def tokens_revoke_all(*, user, by, request=None, reason=""):
    """Revoke every token of ``user`` (one access event each); the number revoked.

    For a locked-out or deactivated account (``accounts`` calls it when access
    is withdrawn) and for "revoke all" on the owner's page."""
    revoked = 0
    for token in list(tokens_of(user).select_related("user")):
        token_revoke(token=token, by=by, request=request, reason=reason)
        revoked += 1
    return revoked
