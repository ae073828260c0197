from django.urls import path

from . import views

app_name = "notifications"

urlpatterns = [
    path("", views.NoticeListView.as_view(), name="notice_list"),
    path("read/", views.NoticeMarkReadView.as_view(), name="notice_read"),
    path("unread/", views.UnreadCountView.as_view(), name="unread_count"),
    path("preferences/", views.PreferenceView.as_view(), name="preferences"),
]
