from django.urls import path

from . import views

app_name = "editchecks"

urlpatterns = [
    path("", views.CheckListView.as_view(), name="check_list"),
    path("<str:check_id>/switch/", views.CheckSwitchView.as_view(), name="check_switch"),
]
