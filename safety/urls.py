from django.urls import path

from . import views

app_name = "safety"

urlpatterns = [
    path("adverse-events/", views.AdverseEventListView.as_view(), name="ae_list"),
    path("patients/<int:patient_pk>/adverse-events/new/", views.AdverseEventCreateView.as_view(),
         name="ae_create"),
    path("patients/<int:patient_pk>/adverse-events/<int:pk>/", views.AdverseEventUpdateView.as_view(),
         name="ae_update"),
    path("patients/<int:patient_pk>/adverse-events/<int:pk>/view/", views.AdverseEventDetailView.as_view(),
         name="ae_detail"),
    path("patients/<int:patient_pk>/adverse-events/<int:pk>/void/", views.AdverseEventVoidView.as_view(),
         name="ae_void"),
    path("patients/<int:patient_pk>/adverse-events/<int:pk>/follow-up/", views.AdverseEventFollowUpView.as_view(),
         name="ae_follow_up"),
]
