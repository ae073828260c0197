from dataclasses import dataclass, field

from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from accounts.scoping import access_for, may, scope_to_user_sites
from accounts.roles import Role
from core.crf import case_report_form, history_rows

from . import rules
from .models import AdverseEvent, AdverseEventFollowUp


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


# --- Read-only case report forms (core.crf) -----------------------------------------------

def _events(patient):
    """The patient's adverse events, voided ones too (shown struck through), with what their
    forms name (the infusion and its cycle, the reviewer) and their follow-ups: two queries."""
    follow_ups = AdverseEventFollowUp.objects.select_related("entered_by").order_by("follow_up_date", "pk")
    return (AdverseEvent.objects.filter(patient=patient)
            .select_related("infusion__cycle__patient", "reviewed_by")
            .prefetch_related(Prefetch("follow_ups", queryset=follow_ups)))


def patient_adverse_events(patient):
    """Every adverse event of ``patient`` by onset (voided ones too), with its follow-ups."""
    return list(_events(patient).order_by("onset_date", "pk"))


def adverse_event_with_follow_ups(*, patient, pk):
    return get_object_or_404(_events(patient), pk=pk)


def safety_history_rows(patient, event=None):
    """The history rows of the patient's adverse events and follow-ups (or of one ``event``'s):
    two queries."""
    related = ("infusion__cycle__patient",)  # an infusion's name reads its cycle and patient
    if event is not None:
        return [*history_rows(AdverseEvent, id=event.pk, select_related=related),
                *history_rows(AdverseEventFollowUp, adverse_event_id=event.pk)]
    return [*history_rows(AdverseEvent, patient_id=patient.pk, select_related=related),
            *history_rows(AdverseEventFollowUp, adverse_event__patient_id=patient.pk)]


@dataclass
class EventForms:
    """An adverse event and its follow-ups as read-only forms."""

    event: object
    form: object
    follow_ups: list = field(default_factory=list)
    cycle_label: str = ""  # the cycle during which it began (visits.selectors.patient_timeline)


def event_forms(event, history, cycle_label=""):
    return EventForms(
        event=event,
        form=case_report_form(event, title=_("Adverse event: %(term)s (grade %(grade)s), onset %(onset)s") % {
            "term": event.term, "grade": event.grade, "onset": _date(event.onset_date)}, history=history),
        follow_ups=[case_report_form(f, title=_("Follow-up of %(term)s on %(date)s") % {
            "term": event.term, "date": _date(f.follow_up_date)}, history=history) for f in event.follow_ups.all()],
        cycle_label=cycle_label,
    )
def _date(value):
    return date_format(value, "SHORT_DATE_FORMAT")


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
