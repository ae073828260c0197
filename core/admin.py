from simple_history.admin import SimpleHistoryAdmin

from .forms import ClinicalRecordForm
from .services import record_save


class ClinicalRecordAdmin(SimpleHistoryAdmin):
    """Admin for clinical records: history, a reason for every change, the same
    model rules and version check as the forms, and no delete."""

    form = ClinicalRecordForm

    def has_delete_permission(self, request, obj=None):
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def save_model(self, request, obj, form, change):
        record_save(
            instance=obj,
            reason=form.cleaned_data.get("change_reason", "") if change else "",
            expected_version=form.cleaned_data.get("version") if change else None,
            user=request.user,
        )
