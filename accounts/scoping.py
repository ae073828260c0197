"""Who may see which site: the one helper every selector uses.

``access_for(user)`` reads the user's memberships once (cached on the user
object for the request) and answers: which roles, study-wide or not, which
sites for reading and which for data entry. ``scope_to_user_sites`` filters
any queryset by its path to ``Site``.
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

    @property
    def role_labels(self):
        return [Role(r).label for r in Role if r in self.roles]

    def has_role(self, *roles):
        return bool(self.roles.intersection(roles))


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
    roles = {role for role, _, _ in rows}
    if user.is_superuser:
        roles.add(Role.ADMIN.value)
    study_wide = bool(roles & {r.value for r in STUDY_WIDE_ROLES})
    site_zones = {site: zone for role, site, zone in rows if role in SITE_ROLES and site}
    access = Access(
        roles=frozenset(roles),
        study_wide=study_wide,
        site_ids=frozenset(site_zones),
        time_zone=next(iter(site_zones.values())) if len(site_zones) == 1 and not study_wide else "",
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
