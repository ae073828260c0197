"""The home dashboard: what each role needs to act on today, in a constant
number of queries per section (aggregates and subqueries, no per-row loops)."""

from dataclasses import dataclass, field
from urllib.parse import urlencode

from django.db.models import Count, Exists, F, Max, OuterRef, Q
from django.urls import reverse
from django.utils import timezone

from accounts.models import Site
from accounts.roles import Role
from accounts.scoping import access_for, scope_to_user_sites
from patients.models import SCHEDULE_FACTS, Patient, PatientStatus
from review.models import DataQuery, QueryStatus
from safety.models import AdverseEvent
from visits.models import Assessment, AssessmentTimepoint, TreatmentCycle

from .worklists import casebook_worklist, cycle_worklist

#: Rows shown per section; the section says "15 of 25 shown" and links to the full list.
LIST_LIMIT = 15


@dataclass
class Section:
    """One work list on the dashboard: its full ``count``, the first ``items``
    (at most ``LIST_LIMIT``), and ``url``, the full, paginated, filterable list."""

    count: int
    items: list
    url: str
    extra: dict = field(default_factory=dict)  # further counts with their lists' URLs

    @property
    def capped(self):
        return self.count > len(self.items)


def _url(name, **params):
    url = reverse(name)
    return f"{url}?{urlencode(params)}" if params else url


def next_cycles_due(user):
    """On-study patients by their next cycle's window (stored by the visits services:
    ``visits.rules.next_cycle``), the most overdue first; with how many are overdue and
    how many are in their window today (``PatientQuerySet.next_cycle``)."""
    today = timezone.localdate()
    on_study = scope_to_user_sites(Patient.objects.filter(status=PatientStatus.ON_STUDY), user)
    rows = (on_study.annotate(last_start=Max("cycles__start_date"), cycles_done=Count("cycles"))
            .order_by(F("next_cycle_window_end_date").asc(nulls_last=True), "subject_id")
            .values("pk", "subject_id", "last_start", "cycles_done", *SCHEDULE_FACTS)[:LIST_LIMIT])
    counts = on_study.aggregate(total=Count("pk"), **{  # one query: the patient list's own filters as subqueries
        status: Count("pk", filter=Q(pk__in=on_study.next_cycle(status, today=today).values("pk")))
        for status in ("overdue", "due")})
    patients = "patients:patient_list"
    return Section(counts["total"], list(rows), _url(patients, status=PatientStatus.ON_STUDY), extra={
        status: (counts[status], _url(patients, schedule=status)) for status in ("overdue", "due")})


def open_queries(user, roles=None):
    """The queries that wait for this user: for a monitor (or an admin) the open ones and
    the answered ones waiting to be closed; for a site, the open ones."""
    roles = access_for(user).roles if roles is None else roles
    pending = bool(roles & {Role.MONITOR.value, Role.ADMIN.value})
    statuses = [QueryStatus.OPEN, QueryStatus.ANSWERED] if pending else [QueryStatus.OPEN]
    qs = scope_to_user_sites(DataQuery.objects.filter(status__in=statuses), user, site_field="patient__site")
    url = _url("oversight:query_list") if pending else _url("oversight:query_list", status=QueryStatus.OPEN)
    return Section(qs.count(), list(qs.select_related("patient").order_by("raised_at")[:LIST_LIMIT]), url,
                   extra={"pending": pending})


def cycles_awaiting_signature(user):
    qs = cycle_worklist(user).filter(signed=False)
    return Section(qs.count(), list(qs[:LIST_LIMIT]), _url("oversight:cycle_list", signature="unsigned"))


def casebooks_awaiting_signature(user):
    qs = casebook_worklist(user).filter(status=PatientStatus.COMPLETED, signed=False)
    return Section(qs.count(), list(qs[:LIST_LIMIT]),
                   _url("oversight:casebook_list", status=PatientStatus.COMPLETED, signature="unsigned"))


def unverified_cycles(user):
    qs = cycle_worklist(user).filter(verified=False)
    return Section(qs.count(), list(qs[:LIST_LIMIT]), _url("oversight:cycle_list", sdv="unverified"))


def sae_queue(user):
    qs = scope_to_user_sites(AdverseEvent.objects.awaiting_review(), user, site_field="patient__site")
    return Section(qs.count(), list(qs.select_related("patient").order_by("created_at")[:LIST_LIMIT]),
                   _url("oversight:ae_queue"))


def completion_by_site(user):
    """Per site: patients by status, cycles, cycles whose assessment lacks CK or a
    complete MMT-8, and completed patients without an end-of-treatment visit."""
    incomplete = Assessment.objects.current().filter(cycle=OuterRef("pk")).filter(
        Q(ck_u_per_l__isnull=True) | Q(mmt_total__isnull=True))
    missing = (TreatmentCycle.objects.filter(Q(Exists(incomplete)) | Q(assessment__isnull=True))
               .values("patient__site").annotate(n=Count("pk")).values_list("patient__site", "n"))
    eot = Assessment.objects.current().filter(patient=OuterRef("pk"), timepoint=AssessmentTimepoint.END_OF_TREATMENT)
    no_eot = (Patient.objects.filter(status=PatientStatus.COMPLETED).filter(~Exists(eot))
              .values("site").annotate(n=Count("pk")).values_list("site", "n"))
    cycles = TreatmentCycle.objects.values("patient__site").annotate(n=Count("pk")).values_list("patient__site", "n")
    sites = scope_to_user_sites(Site.objects.all(), user, site_field="pk").annotate(
        n_patients=Count("patients", distinct=True),
        on_study=Count("patients", filter=Q(patients__status=PatientStatus.ON_STUDY), distinct=True),
        completed=Count("patients", filter=Q(patients__status=PatientStatus.COMPLETED), distinct=True),
        withdrawn=Count("patients", filter=Q(patients__status=PatientStatus.WITHDRAWN), distinct=True),
    ).order_by("code")
    missing, no_eot, cycles = dict(missing), dict(no_eot), dict(cycles)
    return [{"site": s, "patients": s.n_patients, "on_study": s.on_study, "completed": s.completed,
             "withdrawn": s.withdrawn, "cycles": cycles.get(s.pk, 0), "incomplete_assessments": missing.get(s.pk, 0),
             "missing_end_visits": no_eot.get(s.pk, 0)} for s in sites]


def dashboard(user):
    """The sections this user's roles call for."""
    access = access_for(user)
    roles = access.roles
    sections = {}
    site_role = roles & {Role.CLINICIAN.value, Role.INVESTIGATOR.value}
    is_admin = Role.ADMIN.value in roles
    if site_role or is_admin:
        sections["due"] = next_cycles_due(user)
    if site_role or is_admin or Role.MONITOR.value in roles:
        sections["queries"] = open_queries(user, roles)
    if Role.INVESTIGATOR.value in roles or is_admin:
        sections["unsigned_cycles"] = cycles_awaiting_signature(user)
        sections["unsigned_casebooks"] = casebooks_awaiting_signature(user)
    if Role.COORDINATOR.value in roles or is_admin:
        sections["completion"] = completion_by_site(user)
    if Role.MONITOR.value in roles or is_admin:
        sections["unverified"] = unverified_cycles(user)
        sections["sae"] = sae_queue(user)
    if is_admin:
        sections["recent_audit"] = recent_audit(user)
    return sections


def recent_audit(user, limit=10):
    """The newest rows of the study-wide audit trail."""
    from .audit import AuditFilters, audit_entries, audit_trail

    return audit_entries(list(audit_trail(user=user, filters=AuditFilters())[:limit]))
