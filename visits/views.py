from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views import View
from django.views.generic import ListView, TemplateView

from accounts.mixins import PermissionRequiredMixin
from accounts.roles import Role
from accounts.scoping import access_for, may
from core.selectors import review_state
from core.views import RecordFormView, lock_message
from patients import selectors as patient_selectors
from patients.views import PatientChildMixin

from . import rules, selectors
from .filters import DeviationFilterSet
from .forms import CycleEntry, EndOfTreatmentForm
from .models import Assessment, DeviationKind, TreatmentCycle
from .services import next_cycle_number


class CycleEntryView(PermissionRequiredMixin, View):
    """Record a cycle (weight, assessment, day 1 and day 2) on one page, or correct it."""

    permission_required = ("visits.add_treatmentcycle", "visits.change_treatmentcycle",
                           "visits.add_infusion", "visits.add_assessment")
    raise_exception = True
    template_name = "visits/cycle_form.html"

    def setup(self, request, *args, **kwargs):
        super().setup(request, *args, **kwargs)
        self.patient = None

    def get_cycle(self):
        number = self.kwargs.get("number")
        if number is None:
            return None
        return selectors.cycle_get(user=self.request.user, patient=self.patient, number=number)

    def dispatch(self, request, *args, **kwargs):
        if not self.has_permission():
            return self.handle_no_permission()
        self.patient = patient_selectors.patient_get(user=request.user, pk=kwargs["patient_pk"],
                                                     treatment_dates=False)
        self.cycle = self.get_cycle()
        return super().dispatch(request, *args, **kwargs)

    def render_entry(self, entry, status=200):
        cycle = entry.cycle
        # A new cycle's number: CycleEntry took it (the next one) when it built the cycle.
        number = cycle.number or next_cycle_number(self.patient)
        deviations = list(cycle.deviations.current().order_by("resolved_at", "day")) if cycle.pk else []
        # The limit in force on the cycle's date (stored), or today for a cycle not yet saved.
        p = self.patient
        at_risk = cycle.at_risk if cycle.pk else rules.risk_in_force(
            timezone.localdate(), p.renal_risk, p.renal_risk_since, p.thrombotic_risk, p.thrombotic_risk_since)
        return render(self.request, self.template_name, {
            "patient": self.patient, "entry": entry, "number": number, "deviations": deviations,
            "tolerance_pct": rules.DOSE_TOLERANCE * 100,
            "at_risk": at_risk, "max_rate": rules.rate_limit_ml_per_kg_min(at_risk),
            "title": (f"Cycle {number} of {self.patient.subject_id}" if cycle.pk
                      else f"Record cycle {number} for {self.patient.subject_id}"),
        }, status=status)

    def locked(self):
        record = self.cycle or TreatmentCycle(patient=self.patient)
        message = lock_message(record)
        if message:
            messages.error(self.request, message)
            return redirect("visits:timeline", self.patient.pk)
        return None

    def get(self, request, *args, **kwargs):
        refused = self.locked()
        if refused:
            return refused
        if self.patient.status in ("withdrawn", "completed") and self.cycle is None:
            messages.warning(request, f"{self.patient.subject_id} is {self.patient.get_status_display().lower()}: "
                                      f"a new cycle will be refused if it falls after withdrawal.")
        return self.render_entry(CycleEntry(patient=self.patient, cycle=self.cycle, user=request.user))

    def post(self, request, *args, **kwargs):
        refused = self.locked()
        if refused:
            return refused
        entry = CycleEntry(request.POST, patient=self.patient, cycle=self.cycle, user=request.user)
        if not entry.is_valid():
            return self.render_entry(entry)
        cycle = entry.save()
        if cycle is None:
            return self.render_entry(entry)
        if entry.deviations:
            messages.warning(request, f"Cycle {cycle.number} saved with {len(entry.deviations)} protocol "
                                      f"deviation{'s' if len(entry.deviations) > 1 else ''}: "
                             + " ".join(d.description for d in entry.deviations))
        else:
            messages.success(request, f"Cycle {cycle.number} saved: no protocol deviation.")
        return redirect(reverse("visits:timeline", args=[self.patient.pk]) + f"#cycle-{cycle.number}")


_PK = 987654321  # a stand-in argument, replaced in a reversed URL


def _url_format(name, *args):
    """The URL of ``name`` for ``args`` and a last argument left open: ``.format(value)``. One
    reverse() for all the rows of a page instead of one per row and link."""
    head, _, tail = reverse(name, args=[*args, _PK]).rpartition(str(_PK))
    return head + "{}" + tail


class TimelineView(PermissionRequiredMixin, TemplateView):
    permission_required = "visits.view_treatmentcycle"
    raise_exception = True
    template_name = "visits/timeline.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        patient = patient_selectors.patient_get(user=self.request.user, pk=self.kwargs["patient_pk"],
                                                treatment_dates=False)
        # The patient's adverse events through the reverse relation (safety depends on visits,
        # not the other way round).
        adverse_events = list(patient.adverse_events.current().order_by("onset_date", "pk"))
        rows, baseline = selectors.patient_timeline(patient, adverse_events)
        state = review_state(patient)
        state.attach_current_hashes(selectors.timeline_review_hashes(patient, rows, state))
        urls = {"update": _url_format("visits:cycle_update", patient.pk)}
        for link in ("sign", "verify", "lock", "unlock"):
            urls[link] = _url_format(f"oversight:cycle_{link}")
        for row in rows:
            if row.cycle:
                row.signature = state.signature(row.cycle)
                row.signature_valid = bool(row.signature and row.signature.is_valid)
                row.verification = state.verification(row.cycle)
                row.queries = state.cycle_queries(row.cycle.number)
                row.urls = {link: url.format(row.cycle.number if link == "update" else row.cycle.pk)
                            for link, url in urls.items()}
        user, site = self.request.user, patient.site_id
        context.update(
            review=state, casebook_signature=state.signature(patient),
            patient_queries=state.cycle_queries(None),
            can_sign=may(user, "review.sign_record", site_id=site),
            can_verify=may(user, "review.verify_source", site_id=site),
            can_raise=may(user, "review.raise_query", site_id=site),
            can_lock=access_for(user).has_role(Role.ADMIN),
            patient=patient, rows=rows, baseline=baseline, chart=selectors.ck_chart(rows),
            adverse_events=adverse_events,
            can_edit=may(user, "visits.change_treatmentcycle", site_id=site),
            can_add_ae=may(user, "safety.add_adverseevent", site_id=site),
            has_end=any(r.cycle is None for r in rows),
            tolerance_pct=rules.DOSE_TOLERANCE * 100,
            query_create_url=reverse("oversight:query_create"),
        )
        return context


class EndOfTreatmentView(PatientChildMixin, RecordFormView):
    model = Assessment
    form_class = EndOfTreatmentForm
    permission_required = ("visits.add_assessment", "visits.change_assessment")
    success_message = "End-of-treatment assessment saved."

    def get_object(self):
        return selectors.end_of_treatment_get(self.get_patient())

    def get_title(self):
        return f"End-of-treatment assessment of {self.get_patient().subject_id}"

    def get_success_url(self):
        return reverse("visits:timeline", args=[self.get_patient().pk])


class DeviationListView(PermissionRequiredMixin, ListView):
    """The study-wide protocol-deviation log (scoped to the user's sites)."""

    permission_required = "visits.view_protocoldeviation"
    raise_exception = True
    template_name = "visits/deviation_list.html"
    context_object_name = "deviations"
    paginate_by = 50

    def get_queryset(self):
        self.filterset = DeviationFilterSet(self.request.GET, queryset=selectors.deviation_list(user=self.request.user),
                                            request=self.request)
        return self.filterset.qs

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        query = self.request.GET.copy()
        query.pop("page", None)
        context.update(sites=self.filterset.form.fields["site"].queryset, kinds=DeviationKind.choices, query_string=query.urlencode(),
                       selected=self.filterset.selected, filter_errors=self.filterset.errors)
        return context
