from django.contrib.auth import get_permission_codename
from django.core.exceptions import PermissionDenied
from simple_history.admin import SimpleHistoryAdmin

from accounts.scoping import may


class ClinicalRecordAdmin(SimpleHistoryAdmin):
    """Clinical records are READ-ONLY in the Django admin: listed, viewed, their
    history shown; never added, changed, reverted or deleted here.

    Every clinical write goes through the app's services (``record_save`` and the
    services above it), which run the rules, store what they derive (deviations...),
    check the locks of every parent, keep parents fixed and check the user's role at
    the patient's site. A plain ModelAdmin save would skip the services' side
    effects, so the admin is a reader; data are entered and corrected on the pages,
    the API or an import.

    Who may view is decided by the user's roles (``accounts.scoping.may``), as on
    the pages and the API: a superuser without the role is refused."""

    def _may(self, request, action):
        return may(request.user, f"{self.opts.app_label}.{get_permission_codename(action, self.opts)}")

    def has_view_permission(self, request, obj=None):
        return self._may(request, "view") or self._may(request, "change")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def revert_disabled(self, request, obj=None):
        return True

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        """The simple-history "Revert" page would save the live record on POST with
        only the view permission checked: a POST is refused, the page stays viewable."""
        if request.method == "POST":
            raise PermissionDenied
        return super().history_form_view(request, object_id, version_id, extra_context)

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def save_model(self, request, obj, form, change):
        raise PermissionDenied  # never reached: no add or change permission

    def delete_model(self, request, obj):
        raise PermissionDenied
