"""The work lists behind the dashboard's counts, under /oversight/ (namespace "oversight")."""

from django.urls import path

from . import views_worklists

urlpatterns = [
    path("cycles/", views_worklists.CycleWorkListView.as_view(), name="cycle_list"),
    path("casebooks/", views_worklists.CasebookWorkListView.as_view(), name="casebook_list"),
]
