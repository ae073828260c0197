from django.urls import path

from . import views_casebook_pdf as views

urlpatterns = [
    path("casebooks/<int:patient_pk>/pdf/", views.CasebookPdfView.as_view(), name="casebook_pdf"),
    path("closeout/", views.CloseoutArchiveView.as_view(), name="closeout_archive"),
]
