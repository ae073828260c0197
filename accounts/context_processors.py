from .scoping import access_for


def roles(request):
    """The current user's access (roles, study-wide) for the navigation bar."""
    return {"access": access_for(getattr(request, "user", None))}
