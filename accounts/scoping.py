"""Who may see which site and do what where: the one helper every channel uses.

``access_for(user)`` reads the user's memberships once (cached on the user
object for the request) and answers: which roles, study-wide or not, which
sites for reading and which for data entry. ``scope_to_user_sites`` filters
any queryset by its path to ``Site``.

``may(user, perm, site_id=...)`` is the permission check of every page, API
call and service: a permission comes only from a role the user holds (the
role's Group, granted in data migrations), a site role only at its own site.
Django's ``user.has_perm`` is not used for study acts: it is always true for
an active superuser, and a superuser is above no rule here (a superuser
without a membership has no role, sees no patient and signs nothing).
"""

from dataclasses import dataclass

from .models import Membership, Site
from .roles import SITE_ROLES, STUDY_WIDE_ROLES, Role

_CACHE_ATTR = "_ivig_access"


@dataclass(frozen=True)
class Access:
    roles: frozenset
    study_wide: bool
    site_ids: frozenset  # sites held through a site role (data entry)
    time_zone: str = ""  # the zone of the user's only site, if exactly one
    site_roles: frozenset = frozenset()  # (role, site_id) pairs of the site roles

    def roles_at(self, site_id):
        """The roles the user holds at ``site_id``: the study-wide ones and
        the site roles of that site."""
        return frozenset(r for r in self.roles if r in STUDY_WIDE_VALUES) | frozenset(
            role for role, site in self.site_roles if site == site_id)

    @property
    def role_labels(self):
        return [Role(r).label for r in Role if r in self.roles]

    def has_role(self, *roles):
        return bool(self.roles.intersection(roles))


STUDY_WIDE_VALUES = frozenset(r.value for r in STUDY_WIDE_ROLES)

NO_ACCESS = Access(roles=frozenset(), study_wide=False, site_ids=frozenset())


def access_for(user):
    if user is None or not user.is_authenticated or not user.is_active:
        return NO_ACCESS
    cached = getattr(user, _CACHE_ATTR, None)
    if cached is not None:
        return cached
    rows = list(
        Membership.objects.filter(user=user).values_list("role", "site_id", "site__time_zone")
    )
    # A superuser gets no role from the flag: roles come from memberships only.
    roles = {role for role, _, _ in rows}
    study_wide = bool(roles & {r.value for r in STUDY_WIDE_ROLES})
    site_zones = {site: zone for role, site, zone in rows if role in SITE_ROLES and site}
    access = Access(
        roles=frozenset(roles),
        study_wide=study_wide,
        site_ids=frozenset(site_zones),
        time_zone=next(iter(site_zones.values())) if len(site_zones) == 1 and not study_wide else "",
        site_roles=frozenset((role, site) for role, site, _ in rows if role in SITE_ROLES and site),
    )
    setattr(user, _CACHE_ATTR, access)
    return access


def scope_to_user_sites(queryset, user, site_field="site"):
    """Rows of ``queryset`` the user may read: all for study-wide roles,
    their own sites' rows for clinicians and investigators, none otherwise."""
    access = access_for(user)
    if access.study_wide:
        return queryset
    if not access.site_ids:
        return queryset.none()
    return queryset.filter(**{f"{site_field}__in": access.site_ids})


def sites_for_data_entry(user):
    """Sites at which the user may enrol patients (all sites for admins)."""
    access = access_for(user)
    if Role.ADMIN.value in access.roles:
        return Site.objects.all()
    return Site.objects.filter(pk__in=access.site_ids)


_PERMS_ATTR = "_ivig_role_perms"


def role_permissions(user):
    """``{role: frozenset({"app_label.codename", ...})}`` for the roles the user
    holds: the permissions of each role's Group (one query, cached on the user
    for the request). Permissions granted to the user directly or through
    ``user.groups`` do not count: a study permission comes with a role."""
    access = access_for(user)
    if not access.roles:
        return {}
    cached = getattr(user, _PERMS_ATTR, None)
    if cached is not None:
        return cached
    from django.contrib.auth.models import Permission

    perms = {role: set() for role in access.roles}
    for role, app_label, codename in Permission.objects.filter(group__name__in=access.roles).values_list(
            "group__name", "content_type__app_label", "codename"):
        perms[role].add(f"{app_label}.{codename}")
    cached = {role: frozenset(p) for role, p in perms.items()}
    setattr(user, _PERMS_ATTR, cached)
    return cached


_ANY_SITE = object()


def may(user, perm, *, site_id=_ANY_SITE):
    """Whether ``user`` holds a role that grants ``perm`` ("app_label.codename").

    With ``site_id`` (the site of the patient whose record is acted on), only
    the user's study-wide roles and their roles at that site count: an
    investigator at site 01 who is a clinician at site 02 signs at 01 only.
    Without it, any role the user holds counts (a page that lists what the
    user may act on; the act itself checks the site).
    ``is_superuser`` grants nothing here."""
    access = access_for(user)
    if not access.roles:
        return False
    roles = access.roles if site_id is _ANY_SITE else access.roles_at(site_id)
    granted = role_permissions(user)
    return any(perm in granted.get(role, ()) for role in roles)


def may_all(user, perms, *, site_id=_ANY_SITE):
    return all(may(user, perm, site_id=site_id) for perm in perms)


def require(user, perm, *, site_id=_ANY_SITE, message):
    """Raise ``PermissionDenied(message)`` unless :func:`may` allows the act."""
    if not may(user, perm, site_id=site_id):
        from django.core.exceptions import PermissionDenied

        raise PermissionDenied(message)
