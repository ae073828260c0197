"""Root URLconf: wires the apps together; nothing clinical lives here."""
from django.contrib import admin
from django.urls import include, path
from django.utils.translation import gettext_lazy as _
from django.views.generic import RedirectView

from accounts.views import healthz
from core.views import favicon, javascript_catalog

admin.site.site_header = _("IVIG myositis trial EDC: administration")
admin.site.site_title = _("IVIG trial EDC admin")

# Under /api/ these answer with the API's JSON error shape, elsewhere with Django's pages.
handler400 = "api.exceptions.bad_request"
handler403 = "api.exceptions.permission_denied"
handler404 = "api.exceptions.page_not_found"
handler500 = "api.exceptions.server_error"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="oversight:dashboard"), name="home"),
    path("healthz/", healthz, name="healthz"),  # open without a login, as is the icon:
    path("favicon.ico", favicon, name="favicon"),
    path("jsi18n/<str:language>/", javascript_catalog, name="javascript-catalog"),
    path("accounts/", include("accounts.urls")),
    path("patients/", include("patients.urls")),
    path("patients/", include("safety.urls_casebook")),
    path("patients/", include("medications.urls")),
    path("", include("visits.urls")),
    path("safety/", include("safety.urls")),
    path("", include("reporting.urls")),
    path("", include("exchange.urls")),
    path("oversight/", include("oversight.urls")),
    path("jobs/", include("jobs.urls")),
    path("admin/", admin.site.urls),
    path("api/", include("api.urls")),
    path("edit-checks/", include("editchecks.urls")),  # issue 17: the automatic edit checks
    path("notifications/", include("notifications.urls")),  # /api/v1/ (REST API, schema, docs) and /api/token/
]
