from django.contrib.auth import get_permission_codename
from simple_history.admin import SimpleHistoryAdmin

from accounts.scoping import may

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
