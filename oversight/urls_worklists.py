"""The work lists behind the dashboard's counts, under /oversight/ (namespace "oversight")."""

from django.urls import path

from . import views_schedule, views_worklists

urlpatterns = [
    path("cycles/", views_worklists.CycleWorkListView.as_view(), name="cycle_list"),
    path("casebooks/", views_worklists.CasebookWorkListView.as_view(), name="casebook_list"),
    path("completeness/", views_worklists.CompletenessView.as_view(), name="completeness"),
    path("schedule/", views_schedule.ScheduleWorkListView.as_view(), name="schedule_list"),
    path("calendar/", views_schedule.CalendarView.as_view(), name="calendar"),
    path("calendar/<str:token>.ics", views_schedule.CalendarFeedView.as_view(), name="calendar_feed"),
]
