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

from django.contrib.auth.decorators import login_not_required, login_required
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.routers import SimpleRouter

from . import views
from .views_profile import TokenView

app_name = "api"

router = SimpleRouter()
for prefix, viewset in (
    ("patients", views.PatientViewSet),
    ("diagnoses", views.DiagnosisViewSet),
    ("malignancies", views.MalignancyViewSet),
    ("cycles", views.CycleViewSet),
    ("assessments", views.AssessmentViewSet),
    ("infusions", views.InfusionViewSet),
    ("adverse-events", views.AdverseEventViewSet),
    ("deviations", views.DeviationViewSet),
    ("data-queries", views.DataQueryViewSet),
):
    router.register(prefix, viewset, basename=f"api-{prefix}")

api_v1 = [
    path("", login_not_required(views.ApiRootView.as_view()), name="root"),
    path("schema/", login_not_required(SpectacularAPIView.as_view()), name="schema"),
    path("docs/", login_required(SpectacularSwaggerView.as_view(url_name="api:schema")), name="docs"),
    path("redoc/", login_required(SpectacularRedocView.as_view(url_name="api:schema")), name="redoc"),
]
for pattern in router.urls:
    login_not_required(pattern.callback)
    api_v1.append(pattern)
api_v1.append(re_path(r"^.*$", login_not_required(views.not_found)))

urlpatterns = [
    path("v1/", include(api_v1)),
    path("token/", TokenView.as_view(), name="token"),
]
