"""Account writes: the password re-check of an e-signature, the end of a
locked-out user's access, and unlocking.

Each failed password check counts towards the login lockout (django-axes,
:mod:`accounts.lockout`), wherever it happens: the login form, the admin's
login, an e-signature.
"""

import logging
from importlib import import_module

from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth import SESSION_KEY, authenticate, get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from oversight.models import AccessEvent, AccessKind, client_ip

from .lockout import ACCOUNT
from .roles import Role

log = logging.getLogger(__name__)


def password_recheck(*, request, user, password):
    """True when ``password`` is ``user``'s and the account is not locked out.

    Used where a signed-in user types their password again (21 CFR 11.200: an
    e-signature). It goes through ``authenticate()``, so a wrong password is a
    failed login for django-axes and the access events, and a locked-out
    account is refused even with the right password.

    The failure records must outlive a refused operation: the check runs in a
    *durable* transaction, which commits them at once and raises
    ``RuntimeError`` if a caller wraps it in its own transaction (whose
    rollback would erase the failures, so that guessing would never lock).
    """
    if request is None:
        raise ValueError("password_recheck needs the request: the lockout is per client address.")
    with transaction.atomic(durable=True):
        authenticated = authenticate(request, username=user.get_username(), password=password)
    return authenticated is not None and authenticated.pk == user.pk


# --- Lockout: the end of a locked-out user's access, and unlocking ---------------------

def user_access_revoke(*, user, reason, request=None, address=None):
    """End every open session of ``user`` and delete their API tokens (or, with
    ``address``, the sessions opened from that address only).

    The one place that knows where a user's access lives: the sessions (in the
    database: each is read and the user's are deleted, wherever they were
    opened) and the API tokens. ``request``, when it is one of the user's own
    requests, gets a fresh anonymous session (its old one is deleted too).
    Writes an access event with ``reason``. Returns (sessions, tokens) ended.

    With ``address`` (a lock from that one client address), only the sessions
    opened from that address end, and the API tokens stay: the user is not
    locked out elsewhere, and a stranger's guesses from afar must not cut off
    the user's own work.
    """
    user_id = str(user.pk)
    sessions = 0
    current = getattr(request, "session", None)
    from .middleware import LOGIN_ADDRESS_KEY

    def ends(data):
        return data.get(SESSION_KEY) == user_id and (address is None or data.get(LOGIN_ADDRESS_KEY) == address)

    if current is not None and ends(current):
        current.flush()
        sessions += 1
    store = import_module(settings.SESSION_ENGINE).SessionStore
    model = store.get_model_class()
    decoder = store()
    keys = [key for key, data in model.objects.filter(expire_date__gt=timezone.now())
            .values_list("session_key", "session_data").iterator()
            if ends(decoder.decode(data))]
    for key in keys:
        store(session_key=key).delete()  # also the cache, with a cached_db engine
    sessions += len(keys)
    from api.services import tokens_revoke_all  # lazily: accounts imports no workflow app at load

    tokens = 0 if address is not None else tokens_revoke_all(user=user, by=None, request=request, reason=reason)
    if address is None:
        calendar_tokens_revoke(user=user, request=request, reason=reason)
    AccessEvent.objects.record(kind=AccessKind.ACCESS_REVOKED, request=request, user=user,
                               detail={"reason": reason, "sessions_ended": sessions, "api_tokens_deleted": tokens,
                                       **({"from_address": address} if address is not None else {})})
    return sessions, tokens


def account_lock_begins(*, request, username, state):
    """An account has just become locked (:mod:`accounts.lockout`): its open
    sessions and API tokens end, and the administrators are told by e-mail
    (the pages show them a banner as long as it is locked). A user name that
    is no account gets nothing: nothing to end, nothing to tell."""
    User = get_user_model()
    user = User._default_manager.filter(**{User.USERNAME_FIELD: username}).first()
    if user is None:
        return
    # Locked everywhere, or the user's own signed-in session failed (a wrong
    # e-signature, current password or code): every session and token ends. Locked
    # from one address by failures from outside: only the sessions from there.
    own = getattr(getattr(request, "user", None), "pk", None) == user.pk
    address = None if state.scope == ACCOUNT or own else (client_ip(request) or "")
    user_access_revoke(user=user, request=request, address=address,
                       reason=f"Locked after failed logins ({_lock_phrase(state)}).")
    admins_notify_lock(user=user, state=state, request=request)


def _lock_phrase(state):
    where = "from every address" if state.scope == ACCOUNT else "from one address"
    until = f" until {state.until:%Y-%m-%d %H:%M} UTC" if state.until else " until an administrator unlocks it"
    return f"{where}{until}"


def admin_emails():
    """The e-mail addresses of the active users with the administrator role."""
    return sorted(set(get_user_model()._default_manager.filter(
        is_active=True, memberships__role=Role.ADMIN).exclude(email="").values_list("email", flat=True)))


def admins_notify_lock(*, user, state, request=None):
    """E-mail the administrators that ``user`` is locked (Django's mail API). A mail
    server that is down does not stop the lock: the failure is logged."""
    recipients = admin_emails()
    if not recipients:
        return 0
    link = reverse("admin:auth_user_changelist") + "?locked=yes"
    if request is not None:
        link = request.build_absolute_uri(link)
    address = client_ip(request) if request is not None else None
    body = (f"The account {user.get_username()} ({user.get_full_name() or 'no name'}) is locked after "
            f"failed logins, {_lock_phrase(state)}.\n"
            f"Failures from the last address ({address or 'unknown'}): {state.address_failures}; "
            f"from every address recently: {state.account_failures}.\n"
            "Its open sessions and API tokens were ended.\n\n"
            "If these were not the user's own typing mistakes, someone is guessing the password. "
            f"To unlock it, select it in the administration and run \"Unlock after failed logins\":\n{link}\n")
    try:
        return send_mail(f"[IVIG EDC] Account {user.get_username()} locked after failed logins", body,
                         None, recipients)
    except Exception:  # noqa: BLE001 - the lock stands whatever the mail server does
        log.exception("The lockout e-mail to the administrators failed.")
        return 0


def account_unlock(*, user, by="", request=None):
    """Clear every lock of ``user``: the failures counted from each address
    (which make both the address lock and the lock from everywhere). Writes an
    access event when there was something to clear. Returns the rows cleared."""
    from . import two_factor

    cleared, _ = AccessAttempt.objects.filter(username=user.get_username()).delete()
    code_locked = any(two_factor.device_locked(device) for device in two_factor.devices_of(user))
    two_factor.reset_failures(user)
    cleared += int(code_locked)
    if cleared:
        AccessEvent.objects.record(kind=AccessKind.UNLOCKED, request=request, user=user, detail={"by": by})
    return cleared


# --- The calendar feed's secret (accounts.models.CalendarToken) --------------------------

def calendar_token_digest(token: str) -> str:
    """What is stored of a calendar token: its SHA-256 (the token is 256 random bits)."""
    import hashlib

    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


@transaction.atomic
def calendar_token_create(*, user, by=None, request=None):
    """A new calendar-feed token for ``user`` (by themselves or an administrator ``by``):
    any active one is revoked first. Returns ``(row, token)``; the token is not kept."""
    import secrets

    from .models import CalendarToken

    calendar_tokens_revoke(user=user, by=by or user, request=request, reason="regenerated")
    token = secrets.token_urlsafe(32)
    row = CalendarToken.objects.create(user=user, digest=calendar_token_digest(token), prefix=token[:6])
    AccessEvent.objects.record(kind=AccessKind.CALENDAR_TOKEN_CREATED, request=request, user=user,
                               detail={"prefix": row.prefix, "by": (by or user).get_username()})
    return row, token


def calendar_tokens_revoke(*, user, by=None, request=None, reason=""):
    """Revoke ``user``'s active calendar token (if any): its feed answers 404 from now on.
    Returns how many were revoked (0 or 1)."""
    from .models import CalendarToken

    prefixes = list(CalendarToken.objects.active().filter(user=user).values_list("prefix", flat=True))
    if not prefixes:
        return 0
    CalendarToken.objects.active().filter(user=user).update(revoked_at=timezone.now())
    AccessEvent.objects.record(kind=AccessKind.CALENDAR_TOKEN_REVOKED, request=request, user=user,
                               detail={"prefixes": prefixes, "by": by.get_username() if by else "",
                                       **({"reason": reason} if reason else {})})
    return len(prefixes)


def calendar_token_owner(token: str):
    """The active user whose active calendar token ``token`` is, or None (unknown,
    revoked, or the user deactivated): one query."""
    from .models import CalendarToken

    if not token or len(token) > 100:
        return None
    row = (CalendarToken.objects.active().select_related("user")
           .filter(digest=calendar_token_digest(token), user__is_active=True).first())
    return row.user if row else None
