from django.shortcuts import get_object_or_404

from accounts.scoping import access_for, scope_to_user_sites
from accounts.roles import Role

from .models import AdverseEvent


def adverse_event_list(*, user):
    """The current adverse events of the user's sites, latest onset first; a list filters
    them with ``safety.filters.AdverseEventFilterSet``."""
    qs = scope_to_user_sites(
        AdverseEvent.objects.current().select_related("patient", "patient__site", "infusion",
                                                      "infusion__cycle"),
        user, site_field="patient__site")
    return qs.order_by("-onset_date", "-pk")


def adverse_event_get(*, user, patient_pk, pk):
    qs = scope_to_user_sites(AdverseEvent.objects.select_related("patient", "patient__site"),
                             user, site_field="patient__site")
    return get_object_or_404(qs, pk=pk, patient_id=patient_pk)


def serious_awaiting_review_count(user):
    """For the banner: serious events not yet reviewed, for monitors and admins only."""
    access = access_for(user)
    if not access.has_role(Role.MONITOR, Role.ADMIN):
        return 0
    return scope_to_user_sites(AdverseEvent.objects.awaiting_review(), user,
                               site_field="patient__site").count()
