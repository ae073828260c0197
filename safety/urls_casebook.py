"""The casebook, at /patients/<pk>/casebook/ (beside the patient's pages; the view is in
``safety``, the capture app that reads the patients' and the visits' records)."""

from django.urls import path

from . import views

app_name = "casebook"

urlpatterns = [
    path("<int:patient_pk>/casebook/", views.CasebookView.as_view(), name="casebook_detail"),
]
