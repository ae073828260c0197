"""What a login decides for the rest of the session (read later without a query)."""

from django.conf import settings
from django.contrib.auth.signals import user_logged_in
from django.db.models.signals import post_save
from django.dispatch import receiver

from . import passwords, two_factor


@receiver(user_logged_in, dispatch_uid="accounts_session_security")
def start_session_security(sender, request=None, user=None, **kwargs):
    if request is None or not hasattr(request, "session") or user is None:
        return
    passwords.remember_password_age(request.session, passwords.password_set_at(user))
    two_factor.start(request, user)


@receiver(post_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="accounts_password_clock_on_create")
def start_password_clock(sender, instance=None, created=False, raw=False, **kwargs):
    """A new account's password is as old as the account: ``create_user`` and
    ``createsuperuser`` hash it without ``set_password``, so the validators'
    ``password_changed`` hook (which times later changes) is not called."""
    if created and not raw:
        passwords.stamp_password_change(instance, instance.date_joined)
