"""Password age: when each password was set, and when it must be changed.

``PASSWORD_MAX_AGE_DAYS`` (0: no limit) is the longest a password lives. The
time a password was set is one :class:`accounts.models.PasswordAge` row per
user, written by :class:`NotTheCurrentPasswordValidator`'s
``password_changed`` hook, which Django calls after every save that follows
``set_password`` (self-service change, the admin's "change password",
``createsuperuser``, ``seed_demo``...). The login copies it into the session,
so the middleware checks the age without a query.
"""

import time

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

#: Session key: when the signed-in user's password was set (Unix time).
SESSION_PASSWORD_SET_AT = "password_set_at"


class NotTheCurrentPasswordValidator:
    """Times every password change (``password_changed``, which Django calls after
    every save that follows ``set_password``).

    It does not compare a new password with the current one: a validator runs on
    forms that do not check the current password through the lockout (the admin's
    "set password"), where "must differ from the current one" would tell a guesser
    that the guess is right, uncounted. The self-service form compares the new
    password with the current one it has just checked
    (``accounts.forms.LockoutAwarePasswordChangeForm``).
    """

    def validate(self, password, user=None):
        return None

    def password_changed(self, password, user=None):
        if user is not None and user.pk is not None:
            stamp_password_change(user)

    def get_help_text(self):
        return _("Your new password must differ from your current one.")


def stamp_password_change(user, when=None):
    from .models import PasswordAge

    when = when or timezone.now()
    PasswordAge.objects.update_or_create(user=user, defaults={"changed_at": when})
    return when


def password_set_at(user):
    """When the user's password was set: its PasswordAge row, or the day the
    account was created for one that predates this record."""
    from .models import PasswordAge

    row = PasswordAge.objects.filter(user=user).values_list("changed_at", flat=True).first()
    return row or user.date_joined


def remember_password_age(session, when):
    session[SESSION_PASSWORD_SET_AT] = int(when.timestamp())


def max_age_seconds():
    days = getattr(settings, "PASSWORD_MAX_AGE_DAYS", 0) or 0
    return int(days) * 86400


def password_expired(session, now=None):
    """True when ``PASSWORD_MAX_AGE_DAYS`` is set and the session's user's
    password is older (read from the session: no query)."""
    limit = max_age_seconds()
    if limit <= 0:
        return False
    set_at = session.get(SESSION_PASSWORD_SET_AT)
    if set_at is None:
        return False
    return (now if now is not None else time.time()) - set_at > limit
