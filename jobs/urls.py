from django.urls import path

from . import views

app_name = "jobs"

urlpatterns = [
    path("files/<uuid:pk>/", views.JobFileStatusView.as_view(), name="file_status"),
    path("files/<uuid:pk>/cancel/", views.JobFileCancelView.as_view(), name="file_cancel"),
    path("files/<uuid:pk>/download/", views.JobFileDownloadView.as_view(), name="file_download"),
]
