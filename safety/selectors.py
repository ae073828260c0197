from django.shortcuts import get_object_or_404

from dataclasses import dataclass

from accounts.scoping import access_for, may, scope_to_user_sites
from accounts.roles import Role

from . import rules
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


@dataclass(frozen=True)
class AdverseEventActions:
    """What ``user`` may do to one adverse event now (the buttons a page shows; each
    act checks again in its view and service)."""

    edit: bool
    follow_up: bool
    void: bool


def adverse_event_actions(*, user, event) -> AdverseEventActions:
    """Nothing on a voided event or under its casebook's lock; a follow-up while the
    event is not resolved, for the roles that add one at the event's site; edit and void
    for the roles that change an event there. No query (``event.patient`` loaded, the
    user's roles cached)."""
    site = event.patient.site_id
    open_ = event.voided_at is None and event.patient.locked_at is None
    change = open_ and may(user, "safety.change_adverseevent", site_id=site)
    return AdverseEventActions(
        edit=change, void=change,
        follow_up=(open_ and not rules.is_resolved(event.outcome)
                   and may(user, "safety.add_adverseeventfollowup", site_id=site)))
