from django.urls import path

from . import views

app_name = "visits"

urlpatterns = [
    path("patients/<int:patient_pk>/timeline/", views.TimelineView.as_view(), name="timeline"),
    path("patients/<int:patient_pk>/cycles/new/", views.CycleEntryView.as_view(), name="cycle_create"),
    path("patients/<int:patient_pk>/cycles/<int:number>/", views.CycleEntryView.as_view(),
         name="cycle_update"),
    path("patients/<int:patient_pk>/cycles/<int:number>/view/", views.CycleDetailView.as_view(),
         name="cycle_detail"),
    path("patients/<int:patient_pk>/end-of-treatment/view/", views.EndOfTreatmentDetailView.as_view(),
         name="end_of_treatment_detail"),
    path("patients/<int:patient_pk>/cycles/preview/", views.CyclePreviewView.as_view(), name="cycle_preview"),
    path("patients/<int:patient_pk>/end-of-treatment/", views.EndOfTreatmentView.as_view(),
         name="end_of_treatment"),
    path("deviations/", views.DeviationListView.as_view(), name="deviation_list"),
    path("patients/<int:patient_pk>/missed-cycles/new/", views.MissedCycleCreateView.as_view(),
         name="missedcycle_create"),
    path("patients/<int:patient_pk>/missed-cycles/<int:pk>/void/", views.MissedCycleVoidView.as_view(),
         name="missedcycle_void"),
]
