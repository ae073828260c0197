"""Adverse-event review, under /oversight/adverse-events/ (namespace "oversight")."""

from django.urls import path

from . import views_ae

urlpatterns = [
    path("", views_ae.SeriousEventQueueView.as_view(), name="ae_queue"),
    path("listing/", views_ae.AdverseEventListingView.as_view(), name="ae_listing"),
    path("listing.csv", views_ae.AdverseEventListingExportView.as_view(), name="ae_listing_export"),
    path("<int:pk>/", views_ae.AdverseEventReviewPageView.as_view(), name="ae_detail"),
    path("<int:pk>/acknowledge/", views_ae.AcknowledgeView.as_view(), name="ae_acknowledge"),
    path("<int:pk>/review/", views_ae.MedicalReviewView.as_view(), name="ae_review"),
    path("<int:pk>/follow-up/", views_ae.FollowUpView.as_view(), name="ae_follow_up"),
]
