"""The study-wide audit trail, under /oversight/audit/ (namespace "oversight")."""

from django.urls import path

from . import views_audit

urlpatterns = [
    path("", views_audit.AuditTrailView.as_view(), name="audit_trail"),
    path("signatures/", views_audit.SignatureCheckView.as_view(), name="signature_check"),
    path("export.csv", views_audit.AuditTrailExportView.as_view(), name="audit_export"),
]
