from django.contrib import admin

from core.admin import ClinicalRecordAdmin

from .models import AdverseEvent


@admin.register(AdverseEvent)
class AdverseEventAdmin(ClinicalRecordAdmin):
    list_display = ("patient", "term", "onset_date", "grade", "serious", "relatedness", "outcome",
                    "reviewed_at", "voided_at")
    list_filter = ("serious", "grade", "relatedness", "outcome")
    search_fields = ("patient__subject_id", "term")
    list_select_related = ("patient",)
    raw_id_fields = ("patient", "infusion")
    readonly_fields = ("reviewed_at", "reviewed_by", "voided_at", "void_reason")
