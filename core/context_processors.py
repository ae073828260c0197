"""Context for base.html that needs no database: the navigation's active section
and the study's time zone (named once per page, in the footer)."""

from django.utils import timezone

from .forms import date_hint

# URL path prefix -> the navigation item it belongs to; the longest prefix wins, so
# "/patients/new/" (enrolment) beats "/patients/" and a patient's adverse events
# ("/patients/<pk>/adverse-events/") stay under Patients.
NAV_SECTIONS = (
    ("/patients/new/", "enrol"),
    ("/patients/", "patients"),
    ("/safety/adverse-events/", "adverse_events"),
    ("/safety/patients/", "patients"),
    ("/deviations/", "deviations"),
    ("/oversight/queries/", "queries"),
    ("/oversight/adverse-events/", "sae_review"),
    ("/oversight/audit/", "audit_trail"),
    ("/reports/", "report"),
    ("/exports/", "exports"),
    ("/imports/labs/", "lab_import"),
    ("/accounts/security/", "account"),
    ("/accounts/password_change/", "account"),
    ("/accounts/two-factor/setup/", "account"),
    ("/api/token/", "account"),
    ("/oversight/schedule/", "schedule"),
    ("/oversight/calendar/", "account"),
    ("/notifications/", "notifications"),
)
_BY_LENGTH = sorted(NAV_SECTIONS, key=lambda item: len(item[0]), reverse=True)


def nav_section(path):
    """The navigation item a page belongs to (``""``: none), from its path alone."""
    if path == "/oversight/":
        return "home"
    for prefix, section in _BY_LENGTH:
        if path.startswith(prefix):
            return section
    return ""


def navigation(request):
    now = timezone.localtime()
    return {
        "nav_section": nav_section(getattr(request, "path", "")),
        "time_zone_name": timezone.get_current_timezone_name(),
        "time_zone_abbreviation": now.tzname(),
        # How dates read in the active language (the footer says it): YYYY-MM-DD, JJ/MM/AAAA.
        "date_hint": date_hint()["placeholder"],
    }
