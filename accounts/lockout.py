"""Login lockout: two limits, so that nobody can lock any account for good.

django-axes counts failed logins (``axes.models.AccessAttempt``: one row per
user name, client address and user agent, with its number of failures and
the time of the last one). This module decides what those counts lock:

- **The account from one address** after ``AXES_FAILURE_LIMIT`` (5) failures
  from that address, until an administrator unlocks it
  (``AXES_COOLOFF_MINUTES`` = 0) or for that many minutes after the last
  failure. A colleague behind the same hospital NAT address shares the lock;
  the account stays open from every other address.
- **The account from everywhere** after ``LOCKOUT_ACCOUNT_FAILURE_LIMIT`` (20)
  failures from any addresses within ``LOCKOUT_ACCOUNT_COOLOFF_MINUTES`` (30),
  until that many minutes after the last failure: guessing spread over many
  addresses is slowed to that rate, and an anonymous attacker can block an
  account only for the cool-off, not for good.

A failure while the account is locked is refused without being counted (it
does not extend the lock). The moment a real account becomes locked,
:func:`accounts.services.account_lock_begins` ends its open sessions and API
tokens and tells the administrators; an administrator's unlock
(:func:`accounts.services.account_unlock`) clears both locks.

Wiring (settings): ``AXES_HANDLER`` is :class:`LockoutHandler`,
``AXES_LOCKOUT_CALLABLE`` is :func:`lockout_response`, and
``AXES_LOCKOUT_PARAMETERS`` is ``[["username", "ip_address"]]``, which is what
axes' own reset on a successful login clears (that address's failures only).
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username
from axes.models import AccessAttempt
from axes.signals import user_locked_out
from django.conf import settings
from django.db import IntegrityError, router, transaction
from django.db.models import F, Max, Q, Sum
from django.shortcuts import render
from django.utils import timezone

log = logging.getLogger(__name__)

ADDRESS = "address"
ACCOUNT = "account"


def lock_scope(*, address_failures, account_failures, address_limit, account_limit):
    """Which lock the failure counts make: ACCOUNT (every address), ADDRESS
    (this client address), or None. A limit of 0 or less never locks."""
    if account_limit > 0 and account_failures >= account_limit:
        return ACCOUNT
    if address_limit > 0 and address_failures >= address_limit:
        return ADDRESS
    return None


def address_cooloff():
    """How long an address lock lasts after the last failure; None: until unlocked."""
    minutes = settings.AXES_COOLOFF_TIME and settings.AXES_COOLOFF_TIME * 60
    return timedelta(minutes=minutes) if minutes else None


def account_cooloff():
    return timedelta(minutes=max(settings.LOCKOUT_ACCOUNT_COOLOFF_MINUTES, 1))


@dataclass(frozen=True)
class LockState:
    address_failures: int
    account_failures: int
    scope: str | None  # ADDRESS, ACCOUNT or None
    until: datetime | None  # when the lock ends by itself; None: when an administrator unlocks it

    @property
    def locked(self):
        return self.scope is not None


def lock_state(*, username, ip_address, now=None):
    """The failure counts of ``username`` (from ``ip_address``, and from
    everywhere within the account cool-off) and the lock they make. One query."""
    now = now or timezone.now()
    at_address = Q(ip_address=ip_address) if ip_address else Q(ip_address__isnull=True)
    address_window = address_cooloff()
    if address_window is not None:
        at_address &= Q(attempt_time__gte=now - address_window)
    in_account_window = Q(attempt_time__gte=now - account_cooloff())
    totals = AccessAttempt.objects.filter(username=username).aggregate(
        address=Sum("failures_since_start", filter=at_address, default=0),
        account=Sum("failures_since_start", filter=in_account_window, default=0),
        address_last=Max("attempt_time", filter=at_address),
        account_last=Max("attempt_time", filter=in_account_window),
    )
    scope = lock_scope(address_failures=totals["address"], account_failures=totals["account"],
                       address_limit=settings.AXES_FAILURE_LIMIT,
                       account_limit=settings.LOCKOUT_ACCOUNT_FAILURE_LIMIT)
    until = None
    if scope == ACCOUNT:
        until = totals["account_last"] + account_cooloff()
    elif scope == ADDRESS and address_window is not None:
        until = totals["address_last"] + address_window
    return LockState(address_failures=totals["address"], account_failures=totals["account"],
                     scope=scope, until=until)


def locked_usernames(usernames=None, *, now=None):
    """{user name: scope} of the accounts locked now (from some address or from
    everywhere), for the administrators' banner and the admin's filter. One query."""
    from django.contrib.auth import get_user_model

    now = now or timezone.now()
    User = get_user_model()
    real = User._default_manager.filter(is_active=True)
    if usernames is not None:
        real = real.filter(**{f"{User.USERNAME_FIELD}__in": list(usernames)})
    rows = AccessAttempt.objects.filter(username__in=real.values(User.USERNAME_FIELD))
    address_window = address_cooloff()
    if address_window is not None:
        rows = rows.filter(attempt_time__gte=now - max(address_window, account_cooloff()))
    account_since = now - account_cooloff()
    per_address, per_account = {}, {}
    for username, ip, failures, at in rows.values_list(
            "username", "ip_address", "failures_since_start", "attempt_time"):
        if address_window is None or at >= now - address_window:
            per_address[username, ip] = per_address.get((username, ip), 0) + failures
        if at >= account_since:
            per_account[username] = per_account.get(username, 0) + failures
    found = {}
    for username in {u for u, _ in per_address} | set(per_account):
        worst = max((n for (u, _), n in per_address.items() if u == username), default=0)
        scope = lock_scope(address_failures=worst, account_failures=per_account.get(username, 0),
                           address_limit=settings.AXES_FAILURE_LIMIT,
                           account_limit=settings.LOCKOUT_ACCOUNT_FAILURE_LIMIT)
        if scope:
            found[username] = scope
    return dict(sorted(found.items()))


class LockoutHandler(AxesDatabaseHandler):
    """django-axes' database handler with this module's two limits."""

    def is_locked(self, request, credentials=None):
        username = get_client_username(request, credentials)
        if not username or not settings.AXES_LOCK_OUT_AT_FAILURE:
            return False
        state = lock_state(username=username, ip_address=request.axes_ip_address)
        request.lockout_state = state
        return state.locked

    def get_failures(self, request, credentials=None):
        username = get_client_username(request, credentials)
        return lock_state(username=username, ip_address=request.axes_ip_address).address_failures

    def clean_expired_user_attempts(self, request=None, credentials=None):
        """Forget failures older than both cool-offs (none while address locks are permanent)."""
        address_window = address_cooloff()
        if address_window is None:
            return 0
        since = (getattr(request, "axes_attempt_time", None) or timezone.now()) \
            - max(address_window, account_cooloff())
        count, _ = AccessAttempt.objects.filter(attempt_time__lt=since).delete()
        return count

    def user_login_failed(self, sender, credentials, request=None, **kwargs):
        """Count the failure; when it makes a lock, say so (once, as the lock begins)."""
        if request is None:
            log.error("AXES: a failed login without a request cannot be counted.")
            return
        request.axes_credentials = credentials
        username = get_client_username(request, credentials)
        if getattr(request, "axes_locked_out", False):
            return  # refused because already locked: not counted, the lock is not extended
        if not username or self.is_whitelisted(request, credentials):
            return
        self.clean_expired_user_attempts(request, credentials)
        ip_address = request.axes_ip_address
        before = lock_state(username=username, ip_address=ip_address)
        self._count(request, username)
        state = lock_state(username=username, ip_address=ip_address)
        request.axes_failures_since_start = state.address_failures
        request.lockout_state = state
        if not state.locked or not settings.AXES_LOCK_OUT_AT_FAILURE:
            return
        request.axes_locked_out = True
        if before.locked and before.scope == state.scope:
            return
        user_locked_out.send("axes", request=request, username=username, ip_address=ip_address,
                             lockout_state=state)
        from .services import account_lock_begins

        account_lock_begins(request=request, username=username, state=state)

    def _count(self, request, username):
        """One more failure on the (user name, address, user agent) row."""
        # No form data is kept: a failed login's form carries a password (the
        # password-change form, the new one too), which would sit in clear text in
        # the database and in the admin's view of the attempts.
        fields = {"get_data": "", "post_data": "",
                  "http_accept": request.axes_http_accept, "path_info": request.axes_path_info,
                  "attempt_time": request.axes_attempt_time}
        key = {"username": username, "ip_address": request.axes_ip_address,
               "user_agent": request.axes_user_agent}
        with transaction.atomic(using=router.db_for_write(AccessAttempt)):
            if AccessAttempt.objects.filter(**key).update(
                    failures_since_start=F("failures_since_start") + 1, **fields):
                return
            try:
                with transaction.atomic(using=router.db_for_write(AccessAttempt)):
                    AccessAttempt.objects.create(**key, **fields, failures_since_start=1)
            except IntegrityError:  # created meanwhile by a concurrent failure
                AccessAttempt.objects.filter(**key).update(
                    failures_since_start=F("failures_since_start") + 1, **fields)


def lockout_response(request, original_response=None, credentials=None):
    """The page of a refused (locked) login or signing: which lock, and until when."""
    state = getattr(request, "lockout_state", None)
    if state is None:
        state = lock_state(username=get_client_username(request, credentials) or "",
                           ip_address=getattr(request, "axes_ip_address", None))
    context = {
        "scope": state.scope or ADDRESS, "until": state.until,
        "failure_limit": settings.AXES_FAILURE_LIMIT,
        "account_failure_limit": settings.LOCKOUT_ACCOUNT_FAILURE_LIMIT,
        "account_cooloff_minutes": settings.LOCKOUT_ACCOUNT_COOLOFF_MINUTES,
    }
    return render(request, settings.AXES_LOCKOUT_TEMPLATE, context, status=settings.AXES_HTTP_RESPONSE_CODE)
