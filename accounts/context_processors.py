from django.utils.functional import SimpleLazyObject

from .lockout import locked_usernames
from .roles import Role
from .scoping import access_for, may, role_permissions


class RolePermLookup:
    """``perms.app_label.codename`` in templates, answered by the user's roles."""

    def __init__(self, user, app_label):
        self.user, self.app_label = user, app_label

    def __getitem__(self, codename):
        return may(self.user, f"{self.app_label}.{codename}")

    def __iter__(self):
        raise TypeError("RolePermLookup is not iterable.")

    def __bool__(self):
        """``{% if perms.app_label %}``: any permission of that app through a role."""
        prefix = f"{self.app_label}."
        return any(p.startswith(prefix) for perms in role_permissions(self.user).values() for p in perms)


class RolePerms:
    """Replaces ``django.contrib.auth.context_processors.auth``'s ``perms``
    (``user.has_perm``, true for any superuser) for the navigation and the
    buttons: they show what the user's roles allow."""

    def __init__(self, user):
        self.user = user

    def __getitem__(self, app_label):
        return RolePermLookup(self.user, app_label)

    def __iter__(self):
        raise TypeError("RolePerms is not iterable.")

    def __contains__(self, perm_name):
        return "." in perm_name and may(self.user, perm_name)


def roles(request):
    """The current user's access (roles, study-wide) for the navigation bar,
    and ``perms`` through the roles (this processor runs after Django's)."""
    user = getattr(request, "user", None)
    return {"access": access_for(user), "perms": RolePerms(user)}


def locked_accounts(request):
    """The accounts locked now after failed logins, for the administrators' banner
    (users with the admin role). One query, on pages that show the banner."""
    if not access_for(getattr(request, "user", None)).has_role(Role.ADMIN):
        return {}
    return {"locked_accounts": SimpleLazyObject(lambda: list(locked_usernames().items()))}
