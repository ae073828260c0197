from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django_otp.plugins.otp_totp.models import TOTPDevice
from simple_history.admin import SimpleHistoryAdmin

from . import two_factor
from .lockout import locked_usernames
from .models import CalendarToken, Membership, RolePolicy, Site
from .services import account_unlock


@admin.register(Site)
class SiteAdmin(SimpleHistoryAdmin):
    list_display = ("code", "name", "country", "time_zone")
    list_filter = ("country",)
    search_fields = ("code", "name")


NOT_YOUR_OWN_ROLES = gettext_lazy("Nobody changes their own roles: another administrator does.")


@admin.register(Membership)
class MembershipAdmin(SimpleHistoryAdmin):
    """Roles are given and taken by an administrator, never to oneself (an
    administrator who made themselves an investigator could sign)."""

    list_display = ("user", "role", "site")
    list_filter = ("role", "site")
    search_fields = ("user__username",)
    autocomplete_fields = ("user",)

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)

        class NotOwnMembershipForm(form):
            def clean(self):
                cleaned = super().clean()
                if cleaned.get("user") is not None and cleaned["user"].pk == request.user.pk:
                    raise ValidationError(NOT_YOUR_OWN_ROLES, code="own_roles")
                return cleaned

        return NotOwnMembershipForm

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and (obj is None or obj.user_id != request.user.pk)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and (obj is None or obj.user_id != request.user.pk)


class MembershipInline(admin.TabularInline):
    """On a user's page; read-only on one's own page (see MembershipAdmin)."""

    model = Membership
    extra = 0

    def _not_self(self, request, obj):
        return obj is None or obj.pk != request.user.pk

    def has_add_permission(self, request, obj=None):
        return super().has_add_permission(request, obj) and self._not_self(request, obj)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and self._not_self(request, obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and self._not_self(request, obj)


class LockedFilter(admin.SimpleListFilter):
    """The accounts locked now after failed logins (the administrators' banner links here)."""

    title = gettext_lazy("locked after failed logins")
    parameter_name = "locked"

    def lookups(self, request, model_admin):
        return [("yes", _("Locked"))]

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
    actions = ["unlock_accounts", "reset_two_factor"]
    # Permissions come with roles (memberships), never from groups or per-user
    # grants, and nobody is made a superuser here: the break-glass superuser is
    # made with ``manage.py createsuperuser`` (README), and each of its logins
    # is an access event of its own kind.
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        (gettext_lazy("Personal info"), {"fields": ("first_name", "last_name", "email")}),
        (gettext_lazy("Status"), {"fields": ("is_active", "is_staff", "is_superuser"),
                    "description": gettext_lazy("Staff status opens the Django admin; what the user may do "
                                                "there and anywhere else comes from their roles "
                                                "(memberships below).")}),
        (gettext_lazy("Important dates"), {"fields": ("last_login", "date_joined")}),
    )
    readonly_fields = ("is_superuser", "last_login", "date_joined")
    list_filter = (LockedFilter, "is_staff", "is_superuser", "is_active")

    @admin.action(description=gettext_lazy("Unlock after failed logins"), permissions=["change"])
    def unlock_accounts(self, request, queryset):
        """Clear every lock of the selected accounts (from one address, from everywhere, and
        the wrong-code count of their two-factor authenticators)."""
        unlocked = sum(1 for user in queryset
                       if account_unlock(user=user, by=request.user.get_username(), request=request))
        self.message_user(
            request, ngettext("%(count)s account unlocked.", "%(count)s accounts unlocked.", unlocked)
            % {"count": unlocked}, messages.SUCCESS)

    @admin.action(description=gettext_lazy("Reset two-factor authentication (lost phone)"), permissions=["change"])
    def reset_two_factor(self, request, queryset):
        """Remove the selected users' authenticators: at their next login they
        set up a new one (if their role requires it) or sign in with the password."""
        reset_count = 0
        for user in queryset:
            if two_factor.remove_devices(user):
                reset_count += 1
                _record_two_factor_removed(request, user)
        self.message_user(
            request, ngettext("Two-factor authentication reset for %(count)s account.",
                              "Two-factor authentication reset for %(count)s accounts.", reset_count)
            % {"count": reset_count},
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


@admin.register(CalendarToken)
class CalendarTokenAdmin(admin.ModelAdmin):
    """Calendar-feed addresses: read only (only digests are stored); an administrator
    revokes a user's address, or regenerates it (the new address is shown once, to pass
    on to the user)."""

    list_display = ("user", "prefix", "created_at", "revoked_at")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter),)
    search_fields = ("user__username",)
    readonly_fields = ("user", "prefix", "created_at", "revoked_at")
    exclude = ("digest",)
    actions = ("revoke", "regenerate")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description=gettext_lazy("Revoke the selected users' calendar feed addresses"), permissions=["view"])
    def revoke(self, request, queryset):
        from . import services

        users = {row.user for row in queryset.select_related("user")}
        revoked = sum(services.calendar_tokens_revoke(user=user, by=request.user, request=request,
                                                      reason="revoked by an administrator") for user in users)
        self.message_user(request, ngettext("%(count)s calendar feed address revoked.",
                                           "%(count)s calendar feed addresses revoked.", revoked)
                          % {"count": revoked})

    @admin.action(description=gettext_lazy("Regenerate the selected users' calendar feed addresses"), permissions=["view"])
    def regenerate(self, request, queryset):
        from django.urls import reverse

        from . import services

        for user in {row.user for row in queryset.select_related("user")}:
            _row, token = services.calendar_token_create(user=user, by=request.user, request=request)
            url = request.build_absolute_uri(reverse("oversight:calendar_feed", args=[token]))
            self.message_user(request, _("New calendar feed address of %(user)s (shown once): %(url)s") % {
                "user": user.get_username(), "url": url})
