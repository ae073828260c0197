from django.urls import path

from . import views

app_name = "exchange"

urlpatterns = [
    path("exports/", views.ExportPageView.as_view(), name="exports"),
    path("exports/download/", views.ExportDownloadView.as_view(), name="export_download"),
    path("exports/background/", views.ExportJobStartView.as_view(), name="export_job_start"),
    path("imports/labs/", views.LabImportView.as_view(), name="lab_import"),
    path("imports/labs/<str:token>/", views.LabImportReviewView.as_view(), name="lab_import_review"),
    path("imports/labs/<str:token>/commit/", views.LabImportCommitView.as_view(), name="lab_import_commit"),
]
