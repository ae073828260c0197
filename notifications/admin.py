from django.contrib import admin

from .models import Notice, NotificationPreference


@admin.register(Notice)
class NoticeAdmin(admin.ModelAdmin):
    """The notices and their e-mail delivery (read-only): a failed or unknown delivery
    with its error."""

    list_display = ("created_at", "kind", "recipient_key", "stage", "email_state", "email_attempts",
                    "email_sent_at", "read_at")
    list_filter = ("kind", "email_state")
    search_fields = ("recipient_key", "address", "subject")
    readonly_fields = [f.name for f in Notice._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(NotificationPreference)
class NotificationPreferenceAdmin(admin.ModelAdmin):
    list_display = ("user", "email_sae", "email_query", "email_digest", "updated_at")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
