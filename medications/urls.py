from django.urls import path

from . import views

app_name = "medications"

urlpatterns = [
    path("<int:patient_pk>/medications/", views.MedicationListView.as_view(), name="medication_list"),
    path("<int:patient_pk>/medications/new/", views.MedicationCreateView.as_view(), name="medication_create"),
    path("<int:patient_pk>/medications/<int:pk>/", views.MedicationUpdateView.as_view(),
         name="medication_update"),
    path("<int:patient_pk>/medications/<int:pk>/void/", views.MedicationVoidView.as_view(),
         name="medication_void"),
]
