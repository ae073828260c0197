"""The home dashboard: what each role needs to act on today, in a constant
number of queries per section (aggregates and subqueries, no per-row loops)."""

from django.contrib.contenttypes.models import ContentType
from django.db.models import Count, Exists, Max, OuterRef, Q

from accounts.models import Site
from accounts.roles import Role
from accounts.scoping import access_for, scope_to_user_sites
from patients.models import Patient, PatientStatus
from review.models import DataQuery, QueryStatus, Signature, SourceVerification
from safety.models import AdverseEvent
from visits import rules as visit_rules
from visits.models import Assessment, AssessmentTimepoint, TreatmentCycle

LIST_LIMIT = 15


def _valid(model, content_type):
    """The review rows no recorded invalidation ended. The dashboard's counts do not
    re-hash every record (that is the audit's signature check, ``review.selectors.check_reviews``); the
    timeline and the check show a row whose data were altered outside the app as invalid."""
    return model.objects.filter(content_type=content_type, object_id=OuterRef("pk")).not_invalidated()


def next_cycles_due(user):
    """On-study patients with the date their next cycle is due (``visits.rules.planned_start`` of the last start)."""
    rows = (scope_to_user_sites(Patient.objects.filter(status=PatientStatus.ON_STUDY), user)
            .annotate(last_start=Max("cycles__start_date"), cycles_done=Count("cycles"))
            .order_by("last_start", "subject_id")
            .values("pk", "subject_id", "last_start", "cycles_done", "enrolment_date")[:LIST_LIMIT])
    return [{**row, "due": (visit_rules.planned_start(row["last_start"]) if row["last_start"]
                            else row["enrolment_date"])} for row in rows]


def open_queries(user):
    qs = scope_to_user_sites(DataQuery.objects.filter(status=QueryStatus.OPEN), user, site_field="patient__site")
    return qs.count(), list(qs.select_related("patient").order_by("raised_at")[:LIST_LIMIT])


def cycles_awaiting_signature(user):
    ct = ContentType.objects.get_for_model(TreatmentCycle)
    qs = (scope_to_user_sites(TreatmentCycle.objects.all(), user, site_field="patient__site")
          .filter(~Exists(_valid(Signature, ct))))
    return qs.count(), list(qs.select_related("patient").order_by("patient__subject_id", "number")[:LIST_LIMIT])


def casebooks_awaiting_signature(user):
    ct = ContentType.objects.get_for_model(Patient)
    qs = (scope_to_user_sites(Patient.objects.filter(status=PatientStatus.COMPLETED), user)
          .filter(~Exists(_valid(Signature, ct))))
    return qs.count(), list(qs.order_by("subject_id")[:LIST_LIMIT])


def unverified_cycles(user):
    ct = ContentType.objects.get_for_model(TreatmentCycle)
    qs = (scope_to_user_sites(TreatmentCycle.objects.all(), user, site_field="patient__site")
          .filter(~Exists(_valid(SourceVerification, ct))))
    return qs.count(), list(qs.select_related("patient").order_by("patient__subject_id", "number")[:LIST_LIMIT])


def sae_queue(user):
    qs = scope_to_user_sites(AdverseEvent.objects.awaiting_review(), user, site_field="patient__site")
    return qs.count(), list(qs.select_related("patient").order_by("created_at")[:LIST_LIMIT])


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
        sections["queries"] = open_queries(user)
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
