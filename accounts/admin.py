from axes.utils import reset
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import User
from django_otp.plugins.otp_totp.models import TOTPDevice
from simple_history.admin import SimpleHistoryAdmin

from . import two_factor
from .models import Membership, RolePolicy, Site


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


admin.site.unregister(User)


@admin.register(User)
class StaffUserAdmin(UserAdmin):
    """Staff accounts are deactivated, never deleted: their names stay on the
    audit trail (history rows and access events are append-only)."""

    inlines = [MembershipInline]
    actions = ["unlock_accounts", "reset_two_factor"]

    @admin.action(description="Unlock after failed logins", permissions=["change"])
    def unlock_accounts(self, request, queryset):
        """Clear django-axes' failed-attempt records of the selected accounts
        (and the wrong-code count of their two-factor authenticators)."""
        from oversight.models import AccessEvent, AccessKind

        unlocked = 0
        for user in queryset:
            code_locked = any(two_factor.device_locked(d) for d in TOTPDevice.objects.filter(user=user))
            two_factor.reset_failures(user)
            if reset(username=user.get_username()) or code_locked:
                unlocked += 1
                AccessEvent.objects.record(kind=AccessKind.UNLOCKED, request=request, user=user,
                                           detail={"by": request.user.get_username()})
        self.message_user(
            request, f"{unlocked} account{'s' if unlocked != 1 else ''} unlocked.", messages.SUCCESS)

    @admin.action(description="Reset two-factor authentication (lost phone)", permissions=["change"])
    def reset_two_factor(self, request, queryset):
        """Remove the selected users' authenticators: at their next login they
        set up a new one (if their role requires it) or sign in with the password."""
        reset_count = 0
        for user in queryset:
            if two_factor.remove_devices(user):
                reset_count += 1
                _record_two_factor_removed(request, user)
        self.message_user(
            request, f"Two-factor authentication reset for {reset_count} account{'s' if reset_count != 1 else ''}.",
            messages.SUCCESS)

    def user_change_password(self, request, id, form_url=""):
        """The admin's "set password" form; the change is an access event."""
        response = super().user_change_password(request, id, form_url)
        if request.method == "POST" and response.status_code == 302:
            from oversight.models import AccessEvent, AccessKind

            user = self.get_object(request, id)
            AccessEvent.objects.record(kind=AccessKind.PASSWORD_CHANGED, request=request, user=user,
                                       detail={"by": request.user.get_username()})
        return response

    def has_delete_permission(self, request, obj=None):
        return False


def _record_two_factor_removed(request, user):
    from oversight.models import AccessEvent, AccessKind

    AccessEvent.objects.record(kind=AccessKind.TWO_FACTOR_REMOVED, request=request, user=user,
                               detail={"by": request.user.get_username()})


@admin.register(RolePolicy)
class RolePolicyAdmin(admin.ModelAdmin):
    """One row per role (created by a migration): only its switches change."""

    list_display = ("role", "require_two_factor")
    list_editable = ("require_two_factor",)
    readonly_fields = ("role",)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# django-otp's own device admin can add a device with a key of the admin's choosing and
# show a user's key; here an admin only sees devices and removes a lost one.
if admin.site.is_registered(TOTPDevice):
    admin.site.unregister(TOTPDevice)


@admin.register(TOTPDevice)
class AuthenticatorAdmin(admin.ModelAdmin):
    list_display = ("user", "name", "confirmed", "created_at", "last_used_at", "throttling_failure_count")
    list_filter = ("confirmed",)
    search_fields = ("user__username",)
    fields = ("user", "name", "confirmed", "created_at", "last_used_at", "throttling_failure_count")
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        _record_two_factor_removed(request, obj.user)

    def delete_queryset(self, request, queryset):
        users = {device.user for device in queryset.select_related("user")}
        super().delete_queryset(request, queryset)
        for user in users:
            _record_two_factor_removed(request, user)
