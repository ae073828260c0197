"""Writes of the adverse-event review workflow: each one transaction, each
write through ``record_save`` (model rules, version check, history row with
the user and, for the event itself, a reason for change).

When does an event count as reviewed? The event's ``reviewed_at`` /
``reviewed_by`` are set by the first *medical review*, not by the
acknowledgement. The acknowledgement is a receipt ("seen, on it"): it takes
the event out of the "unacknowledged" state on the queue, but the 24-hour
clock and the serious-event banner run until somebody has assessed the event
(comment, own relatedness). An acknowledged but unassessed serious event is
still outstanding work, and the banner is the reminder of exactly that.

Every channel (form, API, admin, ODM import, generators) stores an event
through :func:`adverse_event_save`, which fills the awareness default and the
stored facts of the SAE clock (``rules.sae_facts``) with ``rules.RULES_VERSION``.
:func:`derived_recompute` re-derives them after a rules change
(``manage.py recompute_derived``).
"""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.scoping import require
from core.derived import DerivedChange
from core.services import StaleRecordError, record_save

from . import rules
from .models import AdverseEvent, AdverseEventFollowUp, AdverseEventReview, ReviewKind

#: The stored facts of an event, computed by ``adverse_event_derive``.
DERIVED_FIELDS = ("report_due_at", "reported_late", "rules_version")


def adverse_event_derive(event: AdverseEvent, *, now) -> AdverseEvent:
    """Fill what an event derives, in place (no write): awareness defaults to the
    entry (``now`` for a new event); ``sae_entered_at`` is when it was first stored as serious (a
    new report if it becomes serious again after a downgrade); the SAE clock's
    facts come from ``rules.sae_facts``. Used by :func:`adverse_event_save` and by
    bulk writers (``demo.synthetic``), so both store the same facts."""
    if event.aware_at is None:  # not given: the entry (of a stored event, its first entry)
        event.aware_at = event.created_at or now
    if not event.serious:
        event.sae_entered_at = None
    elif event.sae_entered_at is None:
        event.sae_entered_at = now
    facts = rules.sae_facts(serious=event.serious, aware_at=event.aware_at, sae_entered_at=event.sae_entered_at)
    event.report_due_at, event.reported_late = facts.report_due_at, facts.reported_late
    event.rules_version = rules.RULES_VERSION
    coded_refresh(event)
    return event


def coded_refresh(event: AdverseEvent) -> AdverseEvent:
    """Copy the coded facts from the chosen dictionary term when the coding changed
    (a new term, or none): the facts of an event already coded with this term stay
    as they were stored, whatever a later dictionary load changed in the term."""
    term = event.coded_term if event.coded_term_id else None
    if term is None:
        facts = rules.coded_facts(term=None)
    elif (event.meddra_llt_code, event.meddra_source) == (term.llt_code, term.source):
        return event
    else:
        facts = rules.coded_facts(term=term)
    for name, value in facts.items():
        setattr(event, name, value)
    return event


@transaction.atomic
def adverse_event_save(*, event: AdverseEvent, user=None, reason: str = "", expected_version: int | None = None,
                       now=None) -> AdverseEvent:
    """Create or correct an adverse event (every channel): the derived facts, then
    ``record_save`` (model rules, lock and version checks, history with ``reason``)."""
    adverse_event_derive(event, now=now or timezone.now())
    return record_save(instance=event, reason=reason, expected_version=expected_version, user=user)


def derived_recompute(*, apply: bool, reason: str, user=None) -> list[DerivedChange]:
    """What the rules derive now against what is stored, for every event (voided
    ones too: their facts stay true to the rules); with ``apply``, each differing
    event is written through ``record_save`` with ``reason`` (a locked casebook
    is reported, not written)."""
    changes = []
    events = AdverseEvent.objects.select_related("patient").order_by("pk")
    for event in events.iterator(chunk_size=2000):
        stored = {name: getattr(event, name) for name in DERIVED_FIELDS}
        adverse_event_derive(event, now=event.created_at)
        # The facts decide; a version that derives the same facts is not a change (no history
        # row per event at every version bump). A written event takes the current version.
        differing = [(name, stored[name], getattr(event, name)) for name in DERIVED_FIELDS[:-1]
                     if stored[name] != getattr(event, name)]
        if not differing:
            continue
        label = f"AdverseEvent {event.pk} ({event.patient.subject_id}: {event.term})"
        written, refused = False, ""
        if apply:
            try:
                with transaction.atomic():
                    record_save(instance=event, reason=reason, user=user)
                written = True
            except ValidationError as exc:
                refused = "; ".join(exc.messages)
        changes += [DerivedChange(label, name, old, new, written=written, refused=refused)
                    for name, old, new in differing]
    return changes


def _locked(adverse_event) -> AdverseEvent:
    """The event re-read under a row lock: concurrent reviews and follow-ups of
    one event queue up, and each sees the state the previous one left."""
    return (AdverseEvent.objects.select_for_update().select_related("patient")
            .get(pk=adverse_event.pk))


@transaction.atomic
def adverse_event_acknowledge(*, adverse_event: AdverseEvent, user, comment: str = "",
                              now=None) -> AdverseEventReview:
    event = _locked(adverse_event)
    review = AdverseEventReview(adverse_event=event, kind=ReviewKind.ACKNOWLEDGEMENT, reviewer=user,
                                reviewed_at=now or timezone.now(), comment=(comment or "").strip())
    return record_save(instance=review, user=user)


@transaction.atomic
def adverse_event_review(*, adverse_event: AdverseEvent, user, comment: str, reviewer_relatedness: str,
                         agrees_with_seriousness: bool | None = None, expected_version: int | None = None,
                         now=None) -> AdverseEventReview:
    """Record a medical review; the first one marks the event reviewed (the reason of that
    change, stored in the event's history, is in the source language whatever the reviewer's).

    ``expected_version``: the version of the event the reviewer read. When the
    event was corrected since, :class:`StaleRecordError` is raised and nothing
    is written: a review must assess the data as they stand.
    """
    event = _locked(adverse_event)
    if expected_version is not None and expected_version != event.version:
        raise StaleRecordError(event, event.version)
    review = AdverseEventReview(adverse_event=event, kind=ReviewKind.MEDICAL_REVIEW, reviewer=user,
                                reviewed_at=now or timezone.now(), comment=(comment or "").strip(),
                                reviewer_relatedness=reviewer_relatedness or "",
                                agrees_with_seriousness=agrees_with_seriousness)
    record_save(instance=review, user=user)
    if event.reviewed_at is None:
        event.reviewed_at = review.reviewed_at
        event.reviewed_by = user
        record_save(instance=event, user=user, permission="safety.review_adverseevent",
                    reason=f"Medical review by {user.get_username()}: {review.comment}")
    return review


@transaction.atomic
def adverse_event_follow_up(*, adverse_event: AdverseEvent, user, follow_up_date, note: str, outcome: str,
                            end_date=None) -> AdverseEventFollowUp:
    """Add a follow-up entry. Its outcome becomes the event's current outcome;
    a resolving outcome (recovered, sequelae, fatal) also sets the event's end
    date, which closes the event to further follow-up."""
    event = _locked(adverse_event)
    # The reviewer's role of a review is a model rule (``not_a_reviewer``); a follow-up
    # is checked here, at the event's site, whatever the channel.
    require(user, "safety.add_adverseeventfollowup", site_id=event.patient.site_id,
            message=_("Only the study's reviewers and the site's staff follow up its adverse events."))
    follow_up = AdverseEventFollowUp(adverse_event=event, entered_by=user, follow_up_date=follow_up_date,
                                     note=(note or "").strip(), outcome=outcome, end_date=end_date)
    record_save(instance=follow_up, user=user)
    changes = {"outcome": outcome}
    if follow_up.resolves:
        changes["end_date"] = end_date
    if any(getattr(event, field) != value for field, value in changes.items()):
        for field, value in changes.items():
            setattr(event, field, value)
        record_save(instance=event, user=user,
                    reason=f"Follow-up of {follow_up_date.isoformat()}: {follow_up.note}")
    return follow_up
