from django.contrib.auth import get_permission_codename
from django.core.exceptions import PermissionDenied
from simple_history.admin import SimpleHistoryAdmin

from accounts.scoping import may

from .forms import ClinicalRecordForm
from .services import record_save


class ClinicalRecordAdmin(SimpleHistoryAdmin):
    """Admin for clinical records: history, a reason for every change, the same
    model rules and version check as the forms, and no delete.

    Who may read, add or change a record here is decided by the user's roles
    (``accounts.scoping.may``), as on the pages and the API: a superuser
    without the role is refused."""

    form = ClinicalRecordForm

    def _may(self, request, action):
        return may(request.user, f"{self.opts.app_label}.{get_permission_codename(action, self.opts)}")

    def has_view_permission(self, request, obj=None):
        return self._may(request, "view") or self._may(request, "change")

    def has_add_permission(self, request):
        return self._may(request, "add")

    def has_change_permission(self, request, obj=None):
        return self._may(request, "change")

    def get_fields(self, request, obj=None):
        fields = super().get_fields(request, obj)
        if obj is None:  # first entry: no reason for change, no version yet
            fields = [f for f in fields if f not in ClinicalRecordForm.BOOKKEEPING]
        return fields

    def has_delete_permission(self, request, obj=None):
        return False

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        """The simple-history "Revert" page saves the live record on POST with only the
        view permission checked: without the change permission (the read-only admins
        of the append-only review tables) a POST is refused, the page stays viewable."""
        if request.method == "POST" and not self.has_change_permission(request):
            raise PermissionDenied
        return super().history_form_view(request, object_id, version_id, extra_context)

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def save_model(self, request, obj, form, change):
        record_save(
            instance=obj,
            reason=form.cleaned_data.get("change_reason", "") if change else "",
            expected_version=form.cleaned_data.get("expected_version") if change else None,
            user=request.user,
        )
