from django.contrib import admin

from core.admin import ClinicalRecordAdmin

from .models import AdverseEvent, AdverseEventFollowUp, AdverseEventReview
from .services import adverse_event_save


@admin.register(AdverseEvent)
class AdverseEventAdmin(ClinicalRecordAdmin):
    list_display = ("patient", "term", "onset_date", "grade", "serious", "relatedness", "outcome",
                    "report_due_at", "reported_late", "reviewed_at", "voided_at")
    list_filter = ("serious", "reported_late", "grade", "relatedness", "outcome")
    search_fields = ("patient__subject_id", "term")
    list_select_related = ("patient",)
    raw_id_fields = ("patient", "infusion")
    readonly_fields = ("reviewed_at", "reviewed_by", "voided_at", "void_reason", "sae_entered_at", "report_due_at",
                       "reported_late", "rules_version")

    def save_model(self, request, obj, form, change):
        """Through ``safety.services`` like every channel (awareness default, SAE clock)."""
        adverse_event_save(
            event=obj, user=request.user,
            reason=form.cleaned_data.get("change_reason", "") if change else "",
            expected_version=form.cleaned_data.get("expected_version") if change else None,
        )


@admin.register(AdverseEventReview)
class AdverseEventReviewAdmin(ClinicalRecordAdmin):
    list_display = ("adverse_event", "kind", "reviewer", "reviewed_at", "reviewer_relatedness",
                    "agrees_with_seriousness")
    list_filter = ("kind", "reviewer_relatedness")
    search_fields = ("adverse_event__patient__subject_id", "adverse_event__term")
    list_select_related = ("adverse_event", "reviewer")
    readonly_fields = ("reviewer", "reviewed_at")


@admin.register(AdverseEventFollowUp)
class AdverseEventFollowUpAdmin(ClinicalRecordAdmin):
    list_display = ("adverse_event", "follow_up_date", "outcome", "end_date", "entered_by")
    list_filter = ("outcome",)
    search_fields = ("adverse_event__patient__subject_id", "adverse_event__term")
    list_select_related = ("adverse_event", "entered_by")
    readonly_fields = ("entered_by",)
