"""API tokens in the Django admin: listed by owner, first characters, creation
and expiry, and revoked (deleted) by an administrator; never created or
changed here (a token is created by its owner on /api/token/), and no secret
or digest is shown. Each revocation is an access event."""

from django.contrib import admin
from knox.models import get_token_model

from . import services

AuthToken = get_token_model()

if admin.site.is_registered(AuthToken):
    admin.site.unregister(AuthToken)  # knox's admin shows digests and mints tokens for anybody


@admin.register(AuthToken)
class AuthTokenAdmin(admin.ModelAdmin):
    list_display = ("user", "prefix", "created", "expiry")
    list_select_related = ("user",)
    search_fields = ("user__username",)
    fields = ("user", "prefix", "created", "expiry")
    readonly_fields = fields
    ordering = ("-created",)
    actions = ["delete_selected"]

    @admin.display(description="token")
    def prefix(self, obj):
        return f"{services.token_prefix(obj)}…"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def delete_model(self, request, obj):
        services.token_revoke(token=obj, by=request.user, request=request, reason="revoked by an administrator")

    def delete_queryset(self, request, queryset):
        for token in queryset.select_related("user"):
            self.delete_model(request, token)
