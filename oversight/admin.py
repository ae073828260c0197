from django.contrib import admin

from .models import AccessEvent


@admin.register(AccessEvent)
class AccessEventAdmin(admin.ModelAdmin):
    """Read-only: access events are written by the login signals and the
    audit-trail export, and never changed (see ``oversight.append_only``)."""

    list_display = ("at", "kind", "username", "user", "ip_address", "user_agent")
    list_filter = ("kind",)
    search_fields = ("username",)
    list_select_related = ("user",)
    date_hierarchy = "at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
