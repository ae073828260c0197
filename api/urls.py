"""API URLs, included at ``/api/`` (namespace ``api``):

- ``/api/v1/``: the REST API (router names ``api:api-<collection>-list`` /
  ``-detail``), ``/api/v1/schema/`` (OpenAPI 3), ``/api/v1/docs/`` (Swagger
  UI) and ``/api/v1/redoc/``, all served from local files;
- ``/api/token/``: the "Your API token" page.

The API views are exempt from ``LoginRequiredMiddleware`` (which would
redirect a token client to the login page): DRF authenticates them and
answers 401 / 403 in JSON (DRF's ``as_view`` marks its views so; the explicit
``login_not_required`` says it here too). The docs pages are HTML for a
browser: without a session they redirect to the login page.
"""

from functools import wraps

from django.contrib.auth.decorators import login_not_required, login_required
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView
from rest_framework.routers import SimpleRouter

from . import views
from .views_profile import TokenView

app_name = "api"

# The API documentation widgets (Swagger UI, Redoc) add style elements and Redoc runs a
# search worker from a blob: scripts still come from this server only.
DOCS_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)


def docs_policy(view):
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        response["Content-Security-Policy"] = DOCS_POLICY
        return response

    return wrapped

router = SimpleRouter()
for prefix, viewset in (
    ("patients", views.PatientViewSet),
    ("diagnoses", views.DiagnosisViewSet),
    ("malignancies", views.MalignancyViewSet),
    ("cycles", views.CycleViewSet),
    ("assessments", views.AssessmentViewSet),
    ("infusions", views.InfusionViewSet),
    ("adverse-events", views.AdverseEventViewSet),
    ("medications", views.MedicationViewSet),
    ("deviations", views.DeviationViewSet),
    ("data-queries", views.DataQueryViewSet),
    ("missed-cycles", views.MissedCycleViewSet),
):
    router.register(prefix, viewset, basename=f"api-{prefix}")

api_v1 = [
    path("", login_not_required(views.ApiRootView.as_view()), name="root"),
    path("schema/", login_not_required(SpectacularAPIView.as_view()), name="schema"),
    # The split view serves Swagger UI's start-up script as a file (?script), so the
    # pages need no inline script; their own widgets style themselves inline.
    path("docs/", login_required(docs_policy(SpectacularSwaggerSplitView.as_view(url_name="api:schema"))),
         name="docs"),
    path("redoc/", login_required(docs_policy(SpectacularRedocView.as_view(url_name="api:schema"))),
         name="redoc"),
]
for pattern in router.urls:
    login_not_required(pattern.callback)
    api_v1.append(pattern)
api_v1.append(re_path(r"^.*$", login_not_required(views.not_found)))

urlpatterns = [
    path("v1/", include(api_v1)),
    path("token/", TokenView.as_view(), name="token"),
]
