"""The filters of the data-query lists: the query list page and ``/api/v1/data-queries/``
(see ``core.filters``)."""

from django.utils.translation import gettext_lazy as _

from core.filters import ChoiceFilter, FilterSet, FlagFilter, IdFilter, SiteFilter, TextFilter
from patients.models import Patient, PatientStatus
from review.models import DataQuery, QueryStatus
from visits.models import TreatmentCycle

#: The page's default (no ``status`` at all): what waits for someone, open or answered.
PENDING = "pending"


class DataQueryFilterSet(FilterSet):
    """``?status=&site=&patient=``. ``status=pending``: open or answered (an answered
    query waits for the monitor to close it). The page shows the pending queries when
    ``status`` is absent (``?status=`` is all of them); the API lists all of them."""

    status = ChoiceFilter(choices=[(PENDING, _("Open or answered")), *QueryStatus.choices],
                          empty_label=_("Any status"), method="filter_status")
    site = SiteFilter(field_name="patient__site")
    patient = IdFilter(field_name="patient_id", help_text=_("Patient id."))
    check = TextFilter(field_name="check_id", lookup_expr="exact", max_length=10, label=_("Edit check"),
                       help_text=_("The id of the edit check that raised the queries (e.g. EC001)."))

    class Meta:
        model = DataQuery
        fields = []

    def filter_status(self, queryset, name, value):
        if value == PENDING:
            return queryset.filter(status__in=[QueryStatus.OPEN, QueryStatus.ANSWERED])
        return queryset.filter(status=value)


class CycleWorkFilterSet(FilterSet):
    """``?site=&patient=&signature=&sdv=&locked=`` of the cycle work list
    (``oversight.worklists.cycle_worklist``: its annotations)."""

    site = SiteFilter(field_name="patient__site", label=_("Site"))
    patient = IdFilter(field_name="patient_id", label=_("Patient id"), help_text=_("Patient id."))
    signature = ChoiceFilter(choices=[("signed", _("Signed")), ("unsigned", _("Awaiting signature"))],
                             empty_label=_("Any signature"), label=_("Signature"), method="filter_signature",
                             help_text=_("signed: a valid signature; unsigned: none, or invalidated."))
    sdv = ChoiceFilter(choices=[("verified", _("Verified")), ("unverified", _("Not verified"))],
                       empty_label=_("Any SDV"), label=_("Source data verification"), method="filter_sdv",
                       help_text=_("verified: a valid source data verification; unverified: none, or invalidated."))
    locked = FlagFilter(field_name="locked", label=_("Locked"),
                        help_text=_("true: the cycle or its casebook is locked; false: open for edits."))

    class Meta:
        model = TreatmentCycle
        fields = []

    def filter_signature(self, queryset, name, value):
        return queryset.filter(signed=value == "signed")

    def filter_sdv(self, queryset, name, value):
        return queryset.filter(verified=value == "verified")


class CasebookWorkFilterSet(FilterSet):
    """``?site=&status=&signature=&locked=`` of the casebook work list."""

    site = SiteFilter(field_name="site", label=_("Site"))
    status = ChoiceFilter(choices=PatientStatus.choices, empty_label=_("Any status"), label=_("Status"))
    signature = ChoiceFilter(choices=[("signed", _("Signed")), ("unsigned", _("Awaiting signature"))],
                             empty_label=_("Any signature"), label=_("Signature"), method="filter_signature",
                             help_text=_("signed: a valid signature; unsigned: none, or invalidated."))
    locked = FlagFilter(field_name="locked", label=_("Locked"), help_text=_("true: the casebook is locked."))

    class Meta:
        model = Patient
        fields = []

    def filter_signature(self, queryset, name, value):
        return queryset.filter(signed=value == "signed")


class ScheduleWorkFilterSet(FilterSet):
    """``?site=&status=`` of the due-and-overdue list (``oversight.schedule.due_and_overdue``):
    ``status=overdue`` (the window closed) or ``due`` (in the window today); both by default."""

    site = SiteFilter(field_name="site", label=_("Site"))
    status = ChoiceFilter(choices=[("overdue", _("Overdue")), ("due", _("In window today"))],
                          empty_label=_("Overdue or in window"), label=_("Next cycle"), method="filter_status",
                          help_text=_("overdue: its window has closed; due: in its window today."))

    class Meta:
        model = Patient
        fields = []

    def filter_status(self, queryset, name, value):
        from django.utils import timezone

        return queryset.next_cycle(value, today=timezone.localdate())
