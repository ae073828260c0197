from django.utils.functional import SimpleLazyObject

from .lockout import locked_usernames
from .roles import Role
from .scoping import access_for


def roles(request):
    """The current user's access (roles, study-wide) for the navigation bar."""
    return {"access": access_for(getattr(request, "user", None))}


def locked_accounts(request):
    """The accounts locked now after failed logins, for the administrators' banner
    (users with the admin role). One query, on pages that show the banner."""
    if not access_for(getattr(request, "user", None)).has_role(Role.ADMIN):
        return {}
    return {"locked_accounts": SimpleLazyObject(lambda: list(locked_usernames().items()))}
