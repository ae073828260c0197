"""The pages' permission gate, through the user's roles (``accounts.scoping.may``).

Django's ``PermissionRequiredMixin`` asks ``user.has_perms``, which is always
true for an active superuser. This one asks the roles: a superuser without a
membership is refused like anybody else without the role.
"""

from django.contrib.auth.mixins import PermissionRequiredMixin as DjangoPermissionRequiredMixin

from .scoping import may_all


class PermissionRequiredMixin(DjangoPermissionRequiredMixin):
    def has_permission(self):
        return may_all(self.request.user, self.get_permission_required())
