"""Two-factor authentication: a time-based one-time password (TOTP, RFC 6238)
after the password, with django-otp's ``TOTPDevice`` (secret key, replay
guard, back-off after wrong codes).

The state of a session is decided once, at login (``start``), and kept in the
session, so that no page pays a query for it:

- a user with a confirmed authenticator must enter a code (``VERIFY``);
- a user without one whose role requires it (:class:`accounts.models.RolePolicy`)
  must set one up (``SETUP``);
- anybody else goes on as before.

Until the step is done the session reaches nothing but that step's page,
logout and static files (:class:`accounts.middleware.AccountSecurityMiddleware`).
A wrong code is a failed login for django-axes (the ``user_login_failed``
signal: it counts toward the account lockout and is an access event); after
``AXES_FAILURE_LIMIT`` wrong codes in a row, wherever the password was typed,
the authenticator refuses every code until an administrator unlocks the
account (a password login that succeeds resets axes' counter, not this one).
"""

import django_otp
from django.conf import settings
from django.contrib.auth.signals import user_login_failed
from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from .models import Membership, RolePolicy
from .roles import Role

#: Session key of a pending second step: VERIFY or SETUP. Absent: nothing pending.
SESSION_KEY = "two_factor_pending"
VERIFY = "verify"
SETUP = "setup"

DEVICE_NAME = "Authenticator app"


def confirmed_device(user):
    """The user's confirmed TOTP authenticator, or None (one per user)."""
    return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk").first()


def required_for(user):
    """True when one of the user's roles requires two-factor authentication
    (a superuser counts as an administrator)."""
    roles = set(Membership.objects.filter(user=user).values_list("role", flat=True))
    if user.is_superuser:
        roles.add(Role.ADMIN.value)
    return bool(roles) and RolePolicy.objects.filter(role__in=roles, require_two_factor=True).exists()


def start(request, user):
    """At login: what the session must do before anything else."""
    if confirmed_device(user) is not None:
        request.session[SESSION_KEY] = VERIFY
    elif required_for(user):
        request.session[SESSION_KEY] = SETUP
    else:
        request.session.pop(SESSION_KEY, None)


def pending(session):
    return session.get(SESSION_KEY)


def mark_verified(request, device):
    request.session.pop(SESSION_KEY, None)
    django_otp.login(request, device)


def failure_limit():
    return getattr(settings, "AXES_FAILURE_LIMIT", 5)


def device_locked(device):
    """Too many wrong codes in a row: only an administrator's unlock helps."""
    return device.throttling_failure_count >= failure_limit()


class Result:
    OK = "ok"
    WRONG = "wrong"
    THROTTLED = "throttled"  # django-otp's back-off: wait a few seconds
    LOCKED = "locked"


def check_code(request, device, code):
    """Verify ``code`` against ``device``; a wrong one is a failed login.

    Returns (Result, detail): for THROTTLED, when the next try is allowed.
    """
    if device_locked(device):
        return Result.LOCKED, None
    allowed, info = device.verify_is_allowed()
    if not allowed:
        return Result.THROTTLED, (info or {}).get("locked_until")
    with transaction.atomic():
        # Locked row: two requests cannot both use one code (django-otp's replay guard).
        device = TOTPDevice.objects.select_for_update().get(pk=device.pk)
        ok = device.verify_token(code)
    if ok:
        return Result.OK, device
    # django-axes counts it (and may lock the account); oversight records it.
    user_login_failed.send(sender=__name__, request=request,
                           credentials={"username": device.user.get_username(), "second_factor": "totp"})
    device.refresh_from_db(fields=["throttling_failure_count", "throttling_failure_timestamp"])
    if device_locked(device):
        return Result.LOCKED, None
    return Result.WRONG, None


def new_device(user):
    """A fresh, unconfirmed authenticator for setting up (any earlier
    unconfirmed one is replaced)."""
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    return TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)


def remove_devices(user):
    """Remove every authenticator of the user (an admin's reset of a lost device,
    or the user's own removal). Returns how many were removed."""
    count, _ = TOTPDevice.objects.filter(user=user).delete()
    return count


def devices_of(user):
    """Every authenticator of ``user``, confirmed or not."""
    return list(TOTPDevice.objects.filter(user=user))


def reset_failures(user):
    """An administrator's unlock also lets the authenticator accept codes again."""
    for device in TOTPDevice.objects.filter(user=user):
        device.throttle_reset(commit=True)


def qr_code_data_uri(device):
    """The otpauth:// URI as an SVG QR code, for an ``<img src>`` (data: is allowed
    by the Content-Security-Policy; nothing is fetched)."""
    import segno

    return segno.make(device.config_url, error="m").svg_data_uri(scale=5, border=2)


def secret_for_manual_entry(device):
    """The base32 secret, in groups of four, for typing into an app by hand."""
    from base64 import b32encode

    secret = b32encode(device.bin_key).decode()
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))
