from django.contrib import admin
from django.utils.translation import gettext_lazy as _
from django_tasks_db.admin import DBTaskResultAdmin
from django_tasks_db.models import DBTaskResult

from .base import ATTEMPT_KWARG
from .models import ScheduledRun

admin.site.unregister(DBTaskResult)


@admin.register(DBTaskResult)
class JobResultAdmin(DBTaskResultAdmin):
    """The background jobs, failed ones with their error (read-only)."""

    list_display = ("enqueued_at", "task_name", "status", "attempt", "error", "started_at", "finished_at",
                    "queue_name")
    search_fields = ("task_path", "exception_class_path")

    @admin.display(description=_("attempt"))
    def attempt(self, obj):
        return (obj.args_kwargs or {}).get("kwargs", {}).get(ATTEMPT_KWARG, 1)

    @admin.display(description=_("error"))
    def error(self, obj):
        if obj.status != "FAILED":
            return ""
        lines = (obj.traceback or "").strip().splitlines()
        return lines[-1][:200] if lines else obj.exception_class_path


@admin.register(ScheduledRun)
class ScheduledRunAdmin(admin.ModelAdmin):
    list_display = ("slot", "name", "enqueued_at", "task_id")
    list_filter = ("name",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
