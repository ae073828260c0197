from django.contrib import admin

from .models import MeddraTerm


@admin.register(MeddraTerm)
class MeddraTermAdmin(admin.ModelAdmin):
    """Read-only: the dictionaries change by their loads (``load_ctcae``, ``load_meddra``)."""

    list_display = ["llt_name", "llt_code", "pt_name", "pt_code", "soc_name", "source", "current"]
    list_filter = ["source", "current"]
    search_fields = ["llt_name", "llt_code", "pt_name", "pt_code"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
