from django.contrib import admin

from core.admin import ClinicalRecordAdmin

from .models import Assessment, Infusion, ProtocolDeviation, TreatmentCycle


@admin.register(TreatmentCycle)
class TreatmentCycleAdmin(ClinicalRecordAdmin):
    list_display = ("patient", "number", "start_date", "weight_kg", "dosing_basis")
    search_fields = ("patient__subject_id",)
    list_select_related = ("patient",)
    raw_id_fields = ("patient",)


@admin.register(Assessment)
class AssessmentAdmin(ClinicalRecordAdmin):
    list_display = ("patient", "timepoint", "assessment_date", "mmt_total", "ck_u_per_l")
    list_filter = ("timepoint",)
    search_fields = ("patient__subject_id",)
    list_select_related = ("patient",)
    raw_id_fields = ("patient", "cycle")
    readonly_fields = ("mmt_total", "voided_at", "void_reason")


@admin.register(Infusion)
class InfusionAdmin(ClinicalRecordAdmin):
    list_display = ("cycle", "day", "infusion_date", "dose_g", "lot")
    search_fields = ("cycle__patient__subject_id", "lot")
    list_select_related = ("cycle", "cycle__patient")
    raw_id_fields = ("cycle",)


@admin.register(ProtocolDeviation)
class ProtocolDeviationAdmin(ClinicalRecordAdmin):
    """Deviations are written by the rules, never by hand. The table is
    append-only: every row is listed, including those a later row superseded."""

    list_display = ("patient", "cycle", "kind", "day", "detected_at", "resolved_at")
    list_filter = ("kind",)
    search_fields = ("patient__subject_id",)
    list_select_related = ("patient", "cycle")
