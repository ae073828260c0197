from django.urls import path

from . import views

urlpatterns = [
    path("", views.DashboardView.as_view(), name="dashboard"),
    path("cycles/<int:pk>/sign/", views.SignView.as_view(record_kind="cycle"), name="cycle_sign"),
    path("cycles/<int:pk>/lock/", views.LockView.as_view(record_kind="cycle"), name="cycle_lock"),
    path("cycles/<int:pk>/unlock/", views.UnlockView.as_view(record_kind="cycle"), name="cycle_unlock"),
    path("cycles/<int:pk>/verify/", views.VerifyView.as_view(record_kind="cycle"), name="cycle_verify"),
    path("casebooks/<int:pk>/sign/", views.SignView.as_view(record_kind="casebook"), name="casebook_sign"),
    path("casebooks/<int:pk>/lock/", views.LockView.as_view(record_kind="casebook"), name="casebook_lock"),
    path("casebooks/<int:pk>/unlock/", views.UnlockView.as_view(record_kind="casebook"), name="casebook_unlock"),
    path("queries/", views.QueryListView.as_view(), name="query_list"),
    path("queries/new/", views.QueryRaiseView.as_view(), name="query_create"),
    path("queries/<int:pk>/", views.QueryDetailView.as_view(), name="query_detail"),
    path("queries/<int:pk>/answer/", views.QueryAnswerView.as_view(), name="query_answer"),
    path("patients/<int:patient_pk>/verify/", views.RecordVerifyView.as_view(), name="record_verify"),
]
