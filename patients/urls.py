from django.urls import path

from . import views

app_name = "patients"

urlpatterns = [
    path("", views.PatientListView.as_view(), name="patient_list"),
    path("new/", views.PatientCreateView.as_view(), name="patient_create"),
    path("<int:pk>/", views.PatientDetailView.as_view(), name="patient_detail"),
    path("<int:pk>/edit/", views.PatientUpdateView.as_view(), name="patient_update"),
    path("<int:pk>/withdraw/", views.PatientWithdrawView.as_view(), name="patient_withdraw"),
    path("<int:patient_pk>/diagnosis/", views.DiagnosisEditView.as_view(), name="diagnosis_edit"),
    path("<int:patient_pk>/malignancies/new/", views.MalignancyCreateView.as_view(),
         name="malignancy_create"),
    path("<int:patient_pk>/malignancies/<int:pk>/edit/", views.MalignancyUpdateView.as_view(),
         name="malignancy_update"),
    path("<int:patient_pk>/malignancies/<int:pk>/void/", views.MalignancyVoidView.as_view(),
         name="malignancy_void"),
]
