"""The pages, API lists and exports whose query count must not grow with the cohort."""

from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

import accounts.middleware  # noqa: F401  (its login receiver starts the idle clock; the test
#                                         client loads the middleware only on the first request)
from api.services import token_create
from api.urls import router
from patients.models import Patient
from exchange.exports import FORMATS
from tests.conftest import _user_with_role

API_LISTS = [prefix for prefix, _viewset, _basename in router.registry]
EXPORTS = sorted(FORMATS)
PAGES = ["patient-list", "patient-detail", "timeline", "deviation-list", "report", "audit-trail",
         "cycle-entry", "cycle-preview", "casebook", "cycle-view",
         # Issue 14: the dashboards and the full lists their counts link to.
         "dashboard-clinician", "dashboard-monitor", "cycle-list", "casebook-list", "query-list",
         "patients-overdue", "ae-list"]
# The edit forms with their queries beside the fields and the invalidation warning (issue 14),
# and the raise-a-query page opened from a field.
PAGES += ["patient-edit", "cycle-edit", "query-raise-field"]
# Issue 15: the due-and-overdue list (study-wide and one site's) and a user's calendar feed.
PAGES += ["schedule-list", "schedule-list-clinician", "calendar-feed"]
# Issue 15: a user's notices (one per serious adverse event of the cohort for the monitor) and the
# navigation's unread count.
PAGES += ["notice-list", "notice-unread"]
# Issue 15: the PDF casebooks one made of a patient, and the admins' close-out archives.
PAGES += ["casebook-pdf", "closeout"]
# Issue 15: the exports page with the user's background exports (one per 10 patients, all states).
PAGES += ["exports-jobs"]
# Issue 17: a patient's concomitant medications and the form to add one.
PAGES += ["medication-list", "medication-create"]
# Issue 17: completeness per form and field, with the missing-data codes' reasons.
PAGES += ["completeness"]
# Issue 17: the edit checks' page (every check, its switch, its queries' counts, the last nightly run).
PAGES += ["edit-checks"]
#: Every measured name: the HTML pages, ``api:<collection>``, ``export:<format>``.
NAMES = PAGES + [f"api:{c}" for c in API_LISTS] + [f"export:{f}" for f in EXPORTS]


def make_users():
    admin = _user_with_role("admin", username="scale-admin")
    admin.is_staff = True  # the admin role, not a superuser (issue 12)
    admin.save()
    patient = Patient.objects.order_by("pk").first()  # the same patient at both sizes
    return {
        "monitor": _user_with_role("monitor", username="scale-monitor"),
        "coordinator": _user_with_role("coordinator", username="scale-coordinator"),
        "admin": admin,
        # The generator's clinician of the patient's site.
        "clinician": get_user_model().objects.get(username=f"cohort-clinician-{patient.site.code}"),
        "patient": patient,
    }


def _client(user, language=None):
    client = Client(**({"HTTP_ACCEPT_LANGUAGE": language} if language else {}))
    client.force_login(user)
    return client


def _api_client(user, language=None):
    _, token = token_create(user=user)
    client = APIClient(**({"HTTP_ACCEPT_LANGUAGE": language} if language else {}))
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def _html(client, url):
    def get():
        response = client.get(url)
        context = response.context or {}
        detail = {"status": response.status_code}
        if "paginator" in context and context["paginator"] is not None:
            detail["rows"] = context["paginator"].count
        if "report" in context:
            detail["rows"] = context["report"].n
        if "rows" in context and "rows" not in detail:
            detail["rows"] = len(context["rows"])
        return detail
    return get


def _api(client, collection):
    def get():
        response = client.get(f"/api/v1/{collection}/")
        return {"status": response.status_code, "rows": response.json().get("count")}
    return get


def _feed(user, language=None):
    from accounts.services import calendar_token_create

    _, token = calendar_token_create(user=user)
    # no session: a calendar program
    client = Client(**({"HTTP_ACCEPT_LANGUAGE": language} if language else {}))

    def get():
        response = client.get(reverse("oversight:calendar_feed", args=[token]))
        return {"status": response.status_code, "bytes": len(response.content)}
    return get


def _export(client, name):
    def get():
        response = client.get("/exports/download/", {"format": name})
        body = b"".join(response.streaming_content) if response.status_code == 200 else b""
        return {"status": response.status_code, "bytes": len(body)}
    return get


def make_notices():
    """The notices of every serious adverse event of the cohort so far (idempotent: at the
    large size, those of the new events), as the SAE job makes them."""
    from notifications.services import sae_notices_create
    from safety.models import AdverseEvent

    for event in AdverseEvent.objects.filter(serious=True).select_related("patient__site"):
        sae_notices_create(event)
def _job_files(owner):
    """The owner's background exports: one per 10 patients, in every state."""
    from jobs.models import JobFile, JobFileStatus

    statuses = list(JobFileStatus)
    missing = Patient.objects.count() // 10 - JobFile.objects.filter(owner=owner).count()
    JobFile.objects.bulk_create(
        JobFile(kind="export", owner=owner, label=f"CSV export {i}", params={"format": "csv"}, total=1000,
                done=500, status=statuses[i % len(statuses)], error="RuntimeError: gone")
        for i in range(max(missing, 0)))


def requests(users, language=None):
    """name -> a zero-argument callable running the request (the login is done before);
    ``language``: the browsers' Accept-Language (issue 16: French pages run the same queries)."""
    make_notices()
    patient = users["patient"]
    monitor, coordinator = _client(users["monitor"], language), _client(users["coordinator"], language)
    clinician, admin = _client(users["clinician"], language), _client(users["admin"], language)
    api = _api_client(users["monitor"], language)
    number = patient.cycles.order_by("number").values_list("number", flat=True).first() or 1
    run = {
        "patient-list": _html(monitor, "/patients/"),
        "patient-detail": _html(clinician, f"/patients/{patient.pk}/"),
        "timeline": _html(clinician, f"/patients/{patient.pk}/timeline/"),
        # The record-cycle page (what the previous cycle carries forward, its window) and its preview.
        "cycle-entry": _html(clinician, reverse("visits:cycle_create", args=[patient.pk])),
        "cycle-preview": _html(clinician, reverse("visits:cycle_preview", args=[patient.pk])
                               + "?weight_kg=70&start_date=2025-06-02&day1_date=2025-06-02&day2_date=2025-06-03"),
        "deviation-list": _html(monitor, "/deviations/"),
        "report": _html(coordinator, "/reports/"),
        # One patient's trail: the same rows at both sizes. (The unfiltered first page runs one
        # query per record type among its 50 rows, so its count follows the mix of the newest
        # rows, not the size of the trail.)
        "audit-trail": _html(admin, f"/oversight/audit/?patient={patient.subject_id}"),
        "patient-edit": _html(clinician, f"/patients/{patient.pk}/edit/"),
        "cycle-edit": _html(clinician, f"/patients/{patient.pk}/cycles/1/"),
        "query-raise-field": _html(monitor, f"/oversight/queries/new/?patient={patient.pk}"
                                            f"&target=patient:{patient.pk}:enrolment_date&next=/patients/"),
        # The read-only forms (issue 14): the whole casebook, and one cycle as the monitor sees it.
        "casebook": _html(clinician, f"/patients/{patient.pk}/casebook/"),
        "cycle-view": _html(monitor, f"/patients/{patient.pk}/cycles/{number}/view/"),
        "dashboard-clinician": _html(clinician, "/oversight/"),
        "dashboard-monitor": _html(monitor, "/oversight/"),
        "cycle-list": _html(monitor, "/oversight/cycles/?signature=unsigned"),
        "casebook-list": _html(monitor, "/oversight/casebooks/?signature=unsigned"),
        "query-list": _html(monitor, "/oversight/queries/"),
        "patients-overdue": _html(monitor, "/patients/?schedule=overdue"),
        "ae-list": _html(admin, "/safety/adverse-events/"),  # each row's buttons: no query
        "notice-list": _html(monitor, "/notifications/"),
        "notice-unread": _html(monitor, "/notifications/unread/"),
        "casebook-pdf": _html(clinician, f"/oversight/casebooks/{patient.pk}/pdf/"),
        "closeout": _html(admin, "/oversight/closeout/"),
    }
    run.update({
        "schedule-list": _html(monitor, "/oversight/schedule/"),
        "schedule-list-clinician": _html(clinician, "/oversight/schedule/?status=overdue"),
        "calendar-feed": _feed(users["monitor"], language),
        "exports-jobs": _html(coordinator, "/exports/"),
        "medication-list": _html(clinician, reverse("medications:medication_list", args=[patient.pk])),
        "medication-create": _html(clinician, reverse("medications:medication_create", args=[patient.pk])),
        "completeness": _html(monitor, "/oversight/completeness/"),
        "edit-checks": _html(monitor, "/edit-checks/"),
    })
    _job_files(users["coordinator"])
    run.update({f"api:{c}": _api(api, c) for c in API_LISTS})
    run.update({f"export:{f}": _export(coordinator, f) for f in EXPORTS})
    return run


def measure_all(users, into, errors, *, size, language=None):
    from tests.scale.conftest import count_queries

    for name, request in requests(users, language).items():
        try:
            into[name] = count_queries(request)
        except Exception as exc:  # reported by the test of that page, not as a fixture error
            errors[f"{name}@{size}"] = repr(exc)
