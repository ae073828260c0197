from django.contrib import messages
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views import View
from django.views.generic import ListView, TemplateView

from accounts.mixins import PermissionRequiredMixin
from accounts.roles import Role
from accounts.scoping import access_for, may
from core.selectors import review_state
from core.views import RecordFormView, VoidView, lock_message
from patients import selectors as patient_selectors
from core.crf import histories, history_rows
from patients.views import PatientChildMixin, PatientRecordViewMixin

from . import rules, selectors
from .filters import DeviationFilterSet
from .forms import GRADE_FIELDS, CycleEntry, CyclePreviewForm, EndOfTreatmentForm, MissedCycleForm
from .models import Assessment, DeviationKind, MissedCycle, TreatmentCycle
from .services import missed_cycle_void, next_cycle_number


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
        # The visit window counts from the previous cycle's start (the new cycle's entry has it).
        if entry.is_edit:
            previous_start = selectors.previous_cycle_start(self.patient, number=cycle.number)
        else:
            previous_start = entry.previous.start_date if entry.previous else None
        window = rules.visit_window(previous_start)
        return render(self.request, self.template_name, {
            "patient": self.patient, "entry": entry, "number": number, "deviations": deviations,
            "previous_start": previous_start, "window": window,
            "errors": entry.error_summary, "carried_from": entry.carried_from,
            "at_risk": at_risk, "max_rate": rules.rate_limit_ml_per_kg_min(at_risk),
            # Open queries beside the fields and what saving will invalidate (review/includes/_edit_review.html).
            "review": review_state(self.patient) if cycle.pk else None,
            "title": (_("Cycle %(number)s of %(subject)s") if cycle.pk
                      else _("Record cycle %(number)s for %(subject)s"))
            % {"number": number, "subject": self.patient.subject_id},
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
            messages.warning(request, _("%(subject)s is %(status)s: a new cycle will be refused if it falls "
                                        "after withdrawal.")
                             % {"subject": self.patient.subject_id,
                                "status": str(self.patient.get_status_display()).lower()})
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
            count = len(entry.deviations)
            messages.warning(request, ngettext(
                "Cycle %(number)s saved with %(count)s protocol deviation: %(deviations)s",
                "Cycle %(number)s saved with %(count)s protocol deviations: %(deviations)s", count)
                % {"number": cycle.number, "count": count,
                   "deviations": " ".join(d.description_text for d in entry.deviations)})
        else:
            messages.success(request, _("Cycle %(number)s saved: no protocol deviation.") % {"number": cycle.number})
        return redirect(reverse("visits:timeline", args=[self.patient.pk]) + f"#cycle-{cycle.number}")


_PK = 987654321  # a stand-in argument, replaced in a reversed URL


def _text(value):
    """A number as the page's fields show it in the active language ("72,5" in French)."""
    return None if value is None else formats.localize_input(value)


def _iso(value):
    """A date as the page's date fields show and accept it in the active language (the first
    input format: dd/mm/yyyy in French, ISO in English): day 2's field is filled with it."""
    return None if value is None else formats.localize_input(value)


def schedule_preview(data, previous_start, derived):
    """The planned start and window of the cycle (from the previous cycle's start) and whether the
    typed start is within it (``derived``: the cycle's facts, :func:`visits.rules.derive_cycle`);
    whether the typed day 2 is the day after day 1 and the date it should be (the page fills an
    untouched day 2 with it). All from ``visits.rules``."""
    start = data["start_date"]
    window = rules.visit_window(previous_start)
    schedule = None
    if window is not None:
        planned, earliest, latest = window
        late = rules.window_deviation(start=start, previous_start=previous_start) if start else None
        schedule = {
            "previous_start": _iso(previous_start), "planned_date": _iso(planned),
            "earliest": _iso(earliest), "latest": _iso(latest), "start_date": _iso(start),
            "offset_days": None if start is None else derived.window_offset_days,
            "within_window": None if start is None else derived.within_window,
            "message": late.text() if late else None,
        }
    day1, day2 = data["day1_date"], data["day2_date"]
    apart = [d for d in rules.day_deviations(day1=day1, day2=day2)
             if d.kind == rules.DeviationKind.NON_CONSECUTIVE]
    return schedule, {
        "expected_date": _iso(rules.expected_day2_date(day1)), "date": _iso(day2),
        "consecutive": None if day1 is None or day2 is None else not apart,
        "message": apart[0].text() if apart else None,
    }


def cycle_preview(patient, data, today, previous_start=None):
    """What the record-cycle page shows while the clinician types, all from
    ``visits.rules`` (the same functions the services run on save): the dosing
    weight, the prescription, the rate limit in force and, per day, the dose
    against the prescription and the rate against the limit. ``data``: the
    cleaned :class:`CyclePreviewForm`; an implausible weight or height previews
    as nothing (saving refuses it with a field error)."""
    weight, height = data["weight_kg"], data["height_cm"]
    if weight is not None and not 0 < weight <= rules.WEIGHT_MAX_KG:
        weight = None
    if height is not None and not rules.HEIGHT_MIN_CM <= height <= rules.HEIGHT_MAX_CM:
        height = None
    # The risk in force on the cycle's date; today while no date is typed (as the page's note).
    cycle = rules.derive_cycle(
        start_date=data["start_date"] or today, previous_start=previous_start, weight_kg=weight, height_cm=height,
        dosing_basis=data["dosing_basis"] or rules.DosingBasis.ACTUAL, sex=patient.sex,
        renal_risk=patient.renal_risk, renal_risk_since=patient.renal_risk_since,
        thrombotic_risk=patient.thrombotic_risk, thrombotic_risk_since=patient.thrombotic_risk_since)
    daily = cycle.prescribed_daily_dose_g
    days = {}
    for day in (1, 2):
        dose, rate = data[f"day{day}_dose_g"], data[f"day{day}_rate"]
        dose = dose if dose else None  # 0 is no dose (saving refuses it)
        rate = rate if rate else None
        facts = rules.derive_infusion(day=day, dose_g=dose, max_rate_ml_per_h=rate, weight_kg=weight,
                                      prescribed_daily_dose_g=daily, at_risk=cycle.at_risk)
        difference = facts.dose_difference_pct
        status = None
        if facts.dose_within_tolerance is not None:
            status = "within" if facts.dose_within_tolerance else ("under" if difference < 0 else "over")
        days[str(day)] = {
            "dose_g": _text(dose), "dose_difference_pct": _text(difference),
            "dose_within_tolerance": facts.dose_within_tolerance, "dose_status": status,
            "rate_ml_per_h": _text(rate), "rate_ml_per_kg_min": _text(facts.rate_ml_per_kg_min),
            "rate_within_limit": facts.rate_within_limit,
        }
    schedule, day2 = schedule_preview(data, previous_start, cycle)
    return {
        "rules_version": cycle.rules_version,
        "schedule": schedule,
        "day2": day2,
        "dosing_weight_kg": _text(cycle.dosing_weight_kg),
        "prescribed_daily_dose_g": _text(daily),
        "prescribed_cycle_dose_g": _text(None if cycle.dosing_weight_kg is None
                                         else rules.prescribed_cycle_dose_g(cycle.dosing_weight_kg)),
        "dose_tolerance_pct": _text(rules.q1(rules.DOSE_TOLERANCE * 100)),
        "at_risk": cycle.at_risk,
        "rate_limit_ml_per_kg_min": _text(rules.rate_limit_ml_per_kg_min(cycle.at_risk)),
        "max_rate_ml_per_h": _text(None if weight is None else rules.max_rate_ml_per_h(weight, cycle.at_risk)),
        "days": days,
        "mmt_total": rules.mmt_total(data[name] for name in GRADE_FIELDS),
    }


class CyclePreviewView(PermissionRequiredMixin, View):
    """The record-cycle page's live preview (static/js/cycle_form.js), as JSON: the
    rules run here, never restated in the browser. Same permission and site scope
    as the page; a query that is not numbers is a 400 with the field errors."""

    permission_required = CycleEntryView.permission_required
    raise_exception = True
    http_method_names = ["get"]

    def get(self, request, *args, **kwargs):
        patient = patient_selectors.patient_get(user=request.user, pk=kwargs["patient_pk"])
        form = CyclePreviewForm(request.GET)
        if not form.is_valid():
            errors = {field: [{"message": e["message"], "code": e["code"]} for e in found]
                      for field, found in form.errors.get_json_data().items()}
            return JsonResponse({"errors": errors}, status=400)
        # The window counts from the cycle before this one (before the next one: a new cycle).
        previous_start = selectors.previous_cycle_start(patient, number=form.cleaned_data["cycle"])
        return JsonResponse(cycle_preview(patient, form.cleaned_data, timezone.localdate(), previous_start))


def _url_format(name, *args):
    """The URL of ``name`` for ``args`` and a last argument left open: ``.format(value)``. One
    reverse() for all the rows of a page instead of one per row and link."""
    head, _separator, tail = reverse(name, args=[*args, _PK]).rpartition(str(_PK))
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
        urls = {"update": _url_format("visits:cycle_update", patient.pk),
                "view": _url_format("visits:cycle_detail", patient.pk)}
        for link in ("sign", "verify", "lock", "unlock"):
            urls[link] = _url_format(f"oversight:cycle_{link}")
        for row in rows:
            if row.cycle:
                row.signature = state.signature(row.cycle)
                row.signature_valid = bool(row.signature and row.signature.is_valid)
                row.verification = state.verification(row.cycle)
                row.queries = state.cycle_queries(row.cycle.number)
                row.urls = {link: url.format(row.cycle.number if link in ("update", "view") else row.cycle.pk)
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
            missed_cycles=list(patient.missed_cycles.order_by("planned_date", "pk")),
            can_record_missed=may(user, "visits.add_missedcycle", site_id=site),
            tolerance_pct=rules.DOSE_TOLERANCE * 100,
            query_create_url=reverse("oversight:query_create"),
        )
        return context


class CycleDetailView(PatientRecordViewMixin, TemplateView):
    """A cycle as read-only forms (visit, pre-treatment assessment, infusions) for every
    role that may view it, locked or not: values, stored facts, deviations, signature and
    SDV, queries and the full history. A constant number of queries."""

    view_permission = "visits.view_treatmentcycle"
    template_name = "visits/cycle_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        patient, user = self.patient, self.request.user
        row = selectors.cycle_row(patient, self.kwargs["number"])
        state = review_state(patient)
        state.attach_current_hashes(selectors.timeline_review_hashes(patient, [row], state))
        block = selectors.cycle_forms(row, histories(selectors.visit_history_rows(patient, row.cycle)))
        site = patient.site_id
        context.update(
            patient=patient, cycle_block=block, review=state, cycle=row.cycle,
            signature=state.signature(row.cycle), verification=state.verification(row.cycle),
            can_sign=may(user, "review.sign_record", site_id=site),
            can_edit=may(user, "visits.change_treatmentcycle", site_id=site)
            and not (row.cycle.locked_at or patient.locked_at),
            title=_("Cycle %(number)s of %(subject)s") % {"number": row.cycle.number, "subject": patient.subject_id},
        )
        return context


class EndOfTreatmentDetailView(PatientRecordViewMixin, TemplateView):
    """The end-of-treatment visit as a read-only form (a note while none is recorded)."""

    view_permission = "visits.view_assessment"
    template_name = "visits/end_of_treatment_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        patient = self.patient
        assessment = selectors.end_of_treatment_get(patient)
        form = None
        if assessment is not None:
            assessment.patient = patient
            form = selectors.end_of_treatment_form(assessment, histories(history_rows(Assessment, id=assessment.pk)))
        context.update(
            patient=patient, review=review_state(patient), form=form,
            can_edit=may(self.request.user, "visits.change_assessment", site_id=patient.site_id)
            and not patient.locked_at,
            title=_("End-of-treatment visit of %(subject)s") % {"subject": patient.subject_id},
        )
        return context


class EndOfTreatmentView(PatientChildMixin, RecordFormView):
    model = Assessment
    form_class = EndOfTreatmentForm
    permission_required = ("visits.add_assessment", "visits.change_assessment")
    success_message = gettext_lazy("End-of-treatment assessment saved.")

    def get_object(self):
        return selectors.end_of_treatment_get(self.get_patient())

    def get_title(self):
        return _("End-of-treatment assessment of %(subject)s") % {"subject": self.get_patient().subject_id}

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


class MissedCycleCreateView(PatientChildMixin, RecordFormView):
    """Record a month without infusion (``visits.services.missed_cycle_save``)."""

    model = MissedCycle
    form_class = MissedCycleForm
    permission_required = "visits.add_missedcycle"
    success_message = gettext_lazy("Missed cycle recorded; the next cycle is planned from its date.")

    def get_object(self):
        return None

    def get_title(self):
        return _("Record a missed cycle of %(subject)s") % {"subject": self.get_patient().subject_id}

    def get_success_url(self):
        return reverse("visits:timeline", args=[self.get_patient().pk])


class MissedCycleVoidView(VoidView):
    """Void a missed cycle entered in error (``visits.services.missed_cycle_void``)."""

    permission_required = "visits.change_missedcycle"
    title = gettext_lazy("Void a missed cycle")
    success_message = gettext_lazy("Missed cycle voided; it stays in the record, struck through.")

    def get_object(self):
        return selectors.missed_cycle_get(user=self.request.user, patient_pk=self.kwargs["patient_pk"],
                                          pk=self.kwargs["pk"])

    def perform(self, form):
        missed_cycle_void(missed=self.object, reason=form.cleaned_data["void_reason"],
                          expected_version=form.cleaned_data["expected_version"], user=self.request.user)

    def get_success_url(self):
        return reverse("visits:timeline", args=[self.object.patient_id])
