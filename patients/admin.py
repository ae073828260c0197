from django.contrib import admin

from core.admin import ClinicalRecordAdmin

from .models import Diagnosis, MalignancyHistory, Patient
from .services import patient_save


@admin.register(Patient)
class PatientAdmin(ClinicalRecordAdmin):
    list_display = ("subject_id", "site", "sex", "status", "enrolment_date")
    list_filter = ("site", "status", "sex")
    search_fields = ("subject_id",)
    list_select_related = ("site",)

    def save_model(self, request, obj, form, change):
        patient_save(patient=obj, reason=form.cleaned_data.get("change_reason", "") if change else "",
                     expected_version=form.cleaned_data.get("expected_version") if change else None,
                     user=request.user)


@admin.register(Diagnosis)
class DiagnosisAdmin(ClinicalRecordAdmin):
    list_display = ("patient", "kind", "diagnosis_date")
    list_filter = ("kind",)
    search_fields = ("patient__subject_id",)
    list_select_related = ("patient",)
    raw_id_fields = ("patient",)


@admin.register(MalignancyHistory)
class MalignancyHistoryAdmin(ClinicalRecordAdmin):
    list_display = ("patient", "malignancy_type", "diagnosis_date", "status", "certainty", "voided_at")
    list_filter = ("status", "certainty")
    search_fields = ("patient__subject_id", "malignancy_type")
    list_select_related = ("patient",)
    raw_id_fields = ("patient",)
    readonly_fields = ("voided_at", "void_reason")
