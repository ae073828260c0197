"""The visit schedule's reads: the due and overdue list and the calendar feed, from the
next-cycle facts stored on each patient (``visits.rules.next_cycle``, stored by the visits
services), judged against today by ``visits.rules.schedule_state``. Each runs one query
whatever the cohort size; no rule is restated here beyond comparing stored dates."""

from datetime import timedelta

from django.db.models import Count, OuterRef, Q, Subquery
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from icalendar import Calendar, Event

from accounts.scoping import scope_to_user_sites
from patients.models import Patient, PatientStatus
from visits import rules
from visits.models import TreatmentCycle


def _last_start():
    return Subquery(TreatmentCycle.objects.filter(patient_id=OuterRef("pk")).order_by("-start_date")
                    .values("start_date")[:1])


def _last_number():
    return Subquery(TreatmentCycle.objects.filter(patient_id=OuterRef("pk")).order_by("-number")
                    .values("number")[:1])


def due_and_overdue(user, *, today):
    """On-study patients of the user's sites whose next cycle's window has opened (in
    window today, or closed: overdue), the most overdue first, with ``last_start`` (the
    last cycle's day 1) and ``missed`` (current missed cycles)."""
    qs = Patient.objects.filter(status=PatientStatus.ON_STUDY, next_cycle_window_start_date__lte=today)
    return (scope_to_user_sites(qs, user)
            .annotate(last_start=_last_start(),
                      missed=Count("missed_cycles", filter=Q(missed_cycles__voided_at__isnull=True)))
            .select_related("site")
            .order_by("next_cycle_window_end_date", "subject_id"))


def with_state(patients, *, today):
    """Each patient (of a page) with ``schedule``: its ``schedule_state`` against today."""
    for patient in patients:
        patient.schedule = rules.schedule_state(window_start=patient.next_cycle_window_start_date,
                                                window_end=patient.next_cycle_window_end_date, today=today)
    return patients


def planned_cycles(user):
    """The planned next cycle of every on-study patient of the user's sites (the feed):
    subject id, stored planned date and window, and the next cycle's number."""
    qs = Patient.objects.filter(status=PatientStatus.ON_STUDY, next_cycle_planned_date__isnull=False)
    return (scope_to_user_sites(qs, user).annotate(last_number=_last_number())
            .order_by("next_cycle_planned_date", "subject_id")
            .values("pk", "subject_id", "last_number", "next_cycle_planned_date",
                    "next_cycle_window_start_date", "next_cycle_window_end_date"))


#: The calendar's product identifier and the domain of its event UIDs.
PRODID = "-//IVIG myositis trial EDC//visit schedule//EN"
UID_DOMAIN = "ivig-trial-edc"


def event_uid(patient_pk, cycle_number):
    """Stable per patient and cycle number: a moved planned date updates the event."""
    return f"patient-{patient_pk}-cycle-{cycle_number}@{UID_DOMAIN}"


def calendar_ics(rows, *, name, now=None) -> bytes:
    """An iCalendar (RFC 5545) of the planned cycles: one all-day VEVENT per patient on
    the planned date, the window in the description; the subject id only. The texts are
    in the active language (the caller overrides it: the feed's language), dates in its
    short format; the dates of the events themselves are iCalendar's."""
    now = now or timezone.now()
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", name)
    for row in rows:
        number = (row["last_number"] or 0) + 1
        planned = row["next_cycle_planned_date"]
        event = Event()
        event.add("uid", event_uid(row["pk"], number))
        event.add("dtstamp", now)
        event.add("dtstart", planned)
        event.add("dtend", planned + timedelta(days=1))
        event.add("summary", _("%(subject_id)s: IVIG cycle %(number)s planned") % {
            "subject_id": row["subject_id"], "number": number})
        event.add("description", _("Subject %(subject_id)s, cycle %(number)s: planned %(planned)s, "
                                   "window %(start)s to %(end)s.") % {
            "subject_id": row["subject_id"], "number": number,
            "planned": date_format(planned, "SHORT_DATE_FORMAT"),
            "start": date_format(row["next_cycle_window_start_date"], "SHORT_DATE_FORMAT"),
            "end": date_format(row["next_cycle_window_end_date"], "SHORT_DATE_FORMAT")})
        event.add("transp", "TRANSPARENT")
        cal.add_component(event)
    return cal.to_ical()
