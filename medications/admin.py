from django.contrib import admin

from core.admin import ClinicalRecordAdmin

from .models import MEDICATION_FACTS, ConcomitantMedication


@admin.register(ConcomitantMedication)
class ConcomitantMedicationAdmin(ClinicalRecordAdmin):
    list_display = ("patient", "drug_name", "atc_code", "start_date", "end_date", "ongoing", "is_corticosteroid",
                    "is_immunosuppressant", "started_during_study", "voided_at")
    list_filter = ("is_corticosteroid", "is_immunosuppressant", "is_statin", "is_oestrogen", "started_during_study",
                   "ongoing")
    search_fields = ("patient__subject_id", "drug_name", "atc_code")
    list_select_related = ("patient",)
    raw_id_fields = ("patient",)
    readonly_fields = (*MEDICATION_FACTS, "rules_version", "voided_at", "void_reason")

