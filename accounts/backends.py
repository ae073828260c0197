from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Permission
from django.db.models import Q


class RoleBackend(ModelBackend):
    """Model backend whose group permissions also come from the user's roles.

    A role is a Group of the same name; holding a Membership with that role
    grants the group's permissions, without copying memberships into
    ``user.groups``.
    """

    def _get_group_permissions(self, user_obj):
        from .models import Membership

        roles = Membership.objects.filter(user=user_obj).values("role")
        return Permission.objects.filter(Q(group__user=user_obj) | Q(group__name__in=roles))
