"""Oversight URLs, one include per area so each can grow on its own."""

from django.urls import include, path

app_name = "oversight"

urlpatterns = [
    path("", include("oversight.urls_review")),
    path("", include("oversight.urls_worklists")),
    path("audit/", include("oversight.urls_audit")),
    path("adverse-events/", include("oversight.urls_ae")),
    path("", include("oversight.urls_casebook_pdf")),
]
