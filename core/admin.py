from django.core.exceptions import PermissionDenied
from simple_history.admin import SimpleHistoryAdmin

from .forms import ClinicalRecordForm
from .services import record_save


class ClinicalRecordAdmin(SimpleHistoryAdmin):
    """Admin for clinical records: history, a reason for every change, the same
    model rules and version check as the forms, and no delete."""

    form = ClinicalRecordForm

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
