"""The study-wide audit trail page and its CSV export (admins and monitors).

Views only coordinate: the filter form is read here, the rows come from
:mod:`oversight.audit`.
"""

from django import forms
from django.contrib.auth import get_user_model
from django.http import HttpResponseBadRequest, StreamingHttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View
from django.views.generic import ListView, TemplateView

from accounts.languages import neutral_iter
from accounts.mixins import PermissionRequiredMixin
from accounts.scoping import scope_to_user_sites
from core.forms import DateInput
from exchange.exports.base import csv_chunks
from patients.models import Patient
from review.selectors import check_reviews

from . import audit
from .models import AccessEvent, AccessKind
from exchange.exports.base import spreadsheet_safe as _cell

PERMISSION = "oversight.view_audit_trail"


class AuditTrailFilterForm(forms.Form):
    patient = forms.CharField(label=gettext_lazy("Patient"), required=False, max_length=6,
                              widget=forms.TextInput(attrs={"placeholder": "01-001"}))
    record_type = forms.ChoiceField(label=gettext_lazy("Record type"), required=False)
    user = forms.TypedChoiceField(label=gettext_lazy("User"), required=False, coerce=int, empty_value=None)
    date_from = forms.DateField(label=gettext_lazy("From"), required=False, widget=DateInput())
    date_to = forms.DateField(label=gettext_lazy("To"), required=False, widget=DateInput())
    action = forms.ChoiceField(label=gettext_lazy("Action"), required=False,
                               choices=[("", gettext_lazy("Any action")), *audit.ACTIONS.items()])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["record_type"].choices = [("", _("All records")), *audit.record_types()]
        users = get_user_model()._default_manager.order_by("username").values_list("pk", "username")
        self.fields["user"].choices = [("", _("Anyone")), *users]
        for name, f in self.fields.items():
            css = "form-select form-select-sm" if isinstance(f, forms.ChoiceField) else "form-control form-control-sm"
            f.widget.attrs.setdefault("class", css)

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", forms.ValidationError(_("The end date is before the start date."),
                                                            code="date_order"))
        return cleaned

    def filters(self):
        data = self.cleaned_data
        return audit.AuditFilters(
            subject_id=(data.get("patient") or "").strip(), kind=data.get("record_type") or "",
            user_id=data.get("user"), date_from=data.get("date_from"), date_to=data.get("date_to"),
            action=data.get("action") or "")


class AuditTrailView(PermissionRequiredMixin, ListView):
    """Every change, access and export, newest first, 50 a page."""

    permission_required = PERMISSION
    raise_exception = True
    template_name = "oversight/audit_trail.html"
    paginate_by = audit.PAGE_SIZE

    def get_queryset(self):
        self.form = AuditTrailFilterForm(self.request.GET)
        if not self.form.is_valid():
            return AccessEvent.objects.none()  # a wrong filter shows its error, not the whole trail
        return audit.audit_trail(user=self.request.user, filters=self.form.filters())

    def get_context_object_name(self, object_list):
        return None

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        query = self.request.GET.copy()
        query.pop("page", None)
        context.update(form=self.form, entries=audit.audit_entries(list(context["page_obj"].object_list)),
                       query_string=query.urlencode())
        return context


class AuditTrailExportView(PermissionRequiredMixin, View):
    """The filtered trail as CSV, one line per changed field, streamed; in English with
    ISO dates whatever the user's language (``accounts.languages.neutral_iter``).

    The export itself is an access event (who, when, filters), written before
    the file streams."""

    permission_required = PERMISSION
    raise_exception = True

    def get(self, request):
        form = AuditTrailFilterForm(request.GET)
        if not form.is_valid():
            return HttpResponseBadRequest(form.errors.as_text(), content_type="text/plain; charset=utf-8")
        filters = form.filters()
        zone = timezone.get_current_timezone()  # the middleware resets it before the stream is read
        AccessEvent.objects.record(kind=AccessKind.AUDIT_EXPORT, request=request, user=request.user,
                                   detail={"filters": filters.as_dict()})
        entries = audit.iter_audit_entries(user=request.user, filters=filters, zone=zone)
        response = StreamingHttpResponse(
            neutral_iter(csv_chunks(audit.CSV_HEADER, audit.audit_csv_rows(entries, zone), _cell)),
            content_type="text/csv; charset=utf-8")
        stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
        response["Content-Disposition"] = f'attachment; filename="audit-trail-{stamp}.csv"'
        return response


class SignatureCheckView(PermissionRequiredMixin, TemplateView):
    """Every signature and source verification the application holds valid whose
    record's current data no longer hash to the stored value: data (or an
    invalidation) altered outside the application. Re-hashes on each visit;
    ``manage.py verify_signatures`` runs the same check unattended."""

    permission_required = PERMISSION
    raise_exception = True
    template_name = "oversight/signature_check.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["check"] = check_reviews(patients=scope_to_user_sites(Patient.objects.all(), self.request.user))
        return context
