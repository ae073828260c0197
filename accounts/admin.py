from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import User
from simple_history.admin import SimpleHistoryAdmin

from .lockout import locked_usernames
from .models import Membership, Site
from .services import account_unlock


@admin.register(Site)
class SiteAdmin(SimpleHistoryAdmin):
    list_display = ("code", "name", "time_zone")
    search_fields = ("code", "name")


@admin.register(Membership)
class MembershipAdmin(SimpleHistoryAdmin):
    list_display = ("user", "role", "site")
    list_filter = ("role", "site")
    search_fields = ("user__username",)
    autocomplete_fields = ("user",)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0


class LockedFilter(admin.SimpleListFilter):
    """The accounts locked now after failed logins (the administrators' banner links here)."""

    title = "locked after failed logins"
    parameter_name = "locked"

    def lookups(self, request, model_admin):
        return [("yes", "Locked")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(username__in=list(locked_usernames()))
        return queryset


admin.site.unregister(User)


@admin.register(User)
class StaffUserAdmin(UserAdmin):
    """Staff accounts are deactivated, never deleted: their names stay on the
    audit trail (history rows and access events are append-only)."""

    inlines = [MembershipInline]
    actions = ["unlock_accounts"]
    list_filter = (LockedFilter, *UserAdmin.list_filter)

    @admin.action(description="Unlock after failed logins", permissions=["change"])
    def unlock_accounts(self, request, queryset):
        """Clear every lock of the selected accounts (from one address and from everywhere)."""
        unlocked = sum(1 for user in queryset
                       if account_unlock(user=user, by=request.user.get_username(), request=request))
        self.message_user(
            request, f"{unlocked} account{'s' if unlocked != 1 else ''} unlocked.", messages.SUCCESS)

    def has_delete_permission(self, request, obj=None):
        return False
