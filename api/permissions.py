"""Who may do what through the API: exactly the pages' model permissions.

DRF's ``DjangoModelPermissions`` lets any authenticated user GET; here a read
needs ``view_<model>`` as on the pages, a create ``add_<model>``, an update
(and a void or a withdrawal) ``change_<model>``, and the data-query actions
their own permissions (``core.raise_query``, ``core.answer_query``). Which
rows a user reaches is the viewset's business (``scope_to_user_sites``:
another site's record is a 404, not a 403).

Permissions come from the user's roles (``accounts.scoping.may``), as on the
pages: ``is_superuser`` grants nothing.
"""

from rest_framework.permissions import BasePermission

from accounts.scoping import may_all


def model_permission(model, action):
    """``app_label.<action>_<model_name>``, or ``action`` itself when it is a
    full permission name (``core.raise_query``)."""
    if "." in action:
        return action
    return f"{model._meta.app_label}.{action}_{model._meta.model_name}"


class RolePermissions(BasePermission):
    """The permissions ``view.required_permissions()`` names for the action.

    A method the viewset does not route (DELETE) needs nothing here, so that
    an authenticated client gets the honest 405 rather than a 403.
    """

    def has_permission(self, request, view):
        user = request.user
        if not (user and user.is_authenticated and user.is_active):
            return False
        needed = view.required_permissions()
        return needed is None or may_all(user, needed)
