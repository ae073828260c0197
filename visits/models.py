from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from core.fingerprint import record_payload
from core.models import ClinicalRecord, Lockable, MissingCodesRecord
from core.validation import raise_violations, validate_ascii_code
from patients.models import Patient

from . import rules
from .rules import DeviationKind, DosingBasis, MMTScale  # the choices are defined once, in the rules



def _derived(field, help_text):
    """A derived column: computed by ``visits/rules.py``, stored by ``visits/services.py``."""
    field.editable = False
    field.help_text = format_lazy(_("Derived (visits/rules.py): {}"), help_text)
    return field


def _rules_version():
    return models.CharField(_("rules version"), max_length=40, blank=True, editable=False,
                            help_text=_("The visits.rules.RULES_VERSION that computed the derived columns."))


class CycleStatus(models.TextChoices):
    DONE = "done", _("Done")


class TreatmentCycleQuerySet(models.QuerySet):
    def for_signature(self):
        """What ``signature_payload`` reads, in a constant number of queries."""
        return self.select_related("assessment").prefetch_related("infusions")


class TreatmentCycle(MissingCodesRecord, Lockable, ClinicalRecord):
    """One monthly treatment period: the visit (weight, pre-treatment assessment)
    and its two infusion days."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="cycles", verbose_name=_("patient"))
    number = models.PositiveSmallIntegerField(_("cycle"), validators=[MinValueValidator(1)])
    start_date = models.DateField(_("start date (day 1)"))
    weight_kg = models.DecimalField(_("weight (kg)"), max_digits=5, decimal_places=1,
                                    help_text=_("Measured at this visit."))
    height_cm = models.DecimalField(_("height (cm)"), max_digits=4, decimal_places=1, null=True,
                                    blank=True, help_text=_("Needed for adjusted body weight."))
    dosing_basis = models.CharField(_("dosing basis"), max_length=10, choices=DosingBasis.choices,
                                    default=DosingBasis.ACTUAL)
    status = models.CharField(_("status"), max_length=10, choices=CycleStatus.choices, default=CycleStatus.DONE)

    # Derived, stored by visits.services (rules.derive_cycle) -------------------
    dosing_weight_kg = _derived(models.DecimalField(
        _("dosing weight (kg)"), max_digits=5, decimal_places=1, null=True, blank=True),
        _("actual or adjusted body weight; empty without a weight, or adjusted without a height."))
    prescribed_daily_dose_g = _derived(models.DecimalField(
        _("prescribed daily dose (g)"), max_digits=6, decimal_places=1, null=True, blank=True),
        _("the daily dose per kg of dosing weight."))
    planned_start_date = _derived(models.DateField(
        _("planned start date"), null=True, blank=True),
        _("the previous cycle's start plus the cycle interval; empty for the first cycle."))
    window_offset_days = _derived(models.IntegerField(
        _("days from the planned start"), null=True, blank=True),
        _("start date minus the planned start date."))
    within_window = _derived(models.BooleanField(
        _("within the visit window"), null=True, blank=True),
        _("the start is within the window around the planned start; empty for the first cycle."))
    at_risk = _derived(models.BooleanField(
        _("renal or thrombotic risk in force"), default=False),
        _("the patient's renal or thrombotic risk in force on the start date (lower rate limit)."))
    rules_version = _rules_version()

    history = HistoricalRecords()
    objects = TreatmentCycleQuerySet.as_manager()
    CHANGE_LOG_EXCLUDE = ClinicalRecord.CHANGE_LOG_EXCLUDE + ("patient",)
    #: What is signed is what was entered; the derived facts follow from it and the rules version.
    SIGNATURE_EXCLUDE = ClinicalRecord.SIGNATURE_EXCLUDE + rules.CYCLE_DERIVED_FIELDS
    PARENT_FIELDS = ("patient",)
    #: Optional clinical fields that may carry a missing-data code (core.missing).
    MISSING_ALLOWED = ("height_cm",)
    #: Its case report form holds the assessment and infusions: a source verification of the
    #: form covers what its signature covers (``core.fingerprint.form_payload``).
    FORM_IS_FINGERPRINT = True

    class Meta:
        verbose_name = _("treatment cycle")
        verbose_name_plural = _("treatment cycles")
        ordering = ["patient", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "number"], name="cycle_unique_number",
                violation_error_code="cycle_taken",
                violation_error_message=_(
                    "This cycle number was just recorded for this patient, perhaps by a colleague: "
                    "nothing of yours was saved. Open the timeline to see it, then record the next "
                    "cycle or correct that one.")),
            models.CheckConstraint(condition=Q(weight_kg__gt=0) & Q(weight_kg__lte=350),
                                   name="cycle_weight_plausible"),
            models.CheckConstraint(condition=Q(height_cm__isnull=True) |
                                   (Q(height_cm__gte=100) & Q(height_cm__lte=250)),
                                   name="cycle_height_plausible"),
        ]

    def __str__(self):
        return f"{self.patient_id and self.patient.subject_id} cycle {self.number}"

    def get_absolute_url(self):
        return reverse("visits:cycle_update", args=[self.patient_id, self.number])

    def signature_payload(self, infusions=None):
        """The cycle: visit, pre-treatment assessment and infusions (uses the
        prefetched ``infusions`` and the cached ``assessment`` when loaded, or the
        ``infusions`` the caller already holds)."""
        try:
            assessment = record_payload(self.assessment)
        except Assessment.DoesNotExist:
            assessment = None
        if infusions is None:
            infusions = self.infusions.all()
        return {"cycle": record_payload(self), "assessment": assessment,
                "infusions": [record_payload(i) for i in sorted(infusions, key=lambda i: i.day)]}

    # Read from the stored facts ---------------------------------------------
    @property
    def prescribed_cycle_dose_g(self):
        daily = self.prescribed_daily_dose_g
        return None if daily is None else daily * rules.INFUSION_DAYS_PER_CYCLE

    @property
    def max_rate_ml_per_h(self):
        return None if not self.weight_kg else rules.max_rate_ml_per_h(self.weight_kg, self.at_risk)

    def _neighbour_starts(self):
        siblings = TreatmentCycle.objects.filter(patient_id=self.patient_id)
        if self.pk:
            siblings = siblings.exclude(pk=self.pk)
        previous = siblings.filter(number__lt=self.number).order_by("-number").values_list(
            "start_date", flat=True).first()
        following = siblings.filter(number__gt=self.number).order_by("number").values_list(
            "start_date", flat=True).first()
        return previous, following

    def clean(self):
        if not self.patient_id or self.number is None:
            return
        previous, following = self._neighbour_starts()
        raise_violations(rules.cycle_violations(
            today=timezone.localdate(), start_date=self.start_date, weight_kg=self.weight_kg,
            height_cm=self.height_cm, dosing_basis=self.dosing_basis,
            enrolment_date=self.patient.enrolment_date, withdrawal_date=self.patient.withdrawal_date,
            previous_start=previous, next_start=following,
            missed_planned=MissedCycle.objects.current().filter(patient_id=self.patient_id)
            .values_list("planned_date", flat=True),
        ))


class AssessmentTimepoint(models.TextChoices):
    PRE_CYCLE = "pre_cycle", _("Before the cycle's first infusion")
    END_OF_TREATMENT = "end", _("End of treatment")


def _grade_field(label):
    return models.PositiveSmallIntegerField(label, null=True, blank=True,
                                            validators=[MaxValueValidator(10)])


def _lab_field(label):
    return models.DecimalField(label, max_digits=8, decimal_places=1, null=True, blank=True)


class AssessmentQuerySet(models.QuerySet):
    def current(self):
        return self.filter(voided_at__isnull=True)

    def with_last_cycle_start(self):
        """Annotate ``last_cycle_start``: the start of the patient's last cycle, which
        ``clean()`` reads for an end-of-treatment visit, so that validating many
        assessments (the lab import's dry run) reads it in the same query."""
        last = (TreatmentCycle.objects.filter(patient_id=models.OuterRef("patient_id"))
                .order_by("-number").values("start_date")[:1])
        return self.annotate(last_cycle_start=models.Subquery(last))


class Assessment(MissingCodesRecord, ClinicalRecord):
    """Muscle power and muscle enzymes before a cycle's first infusion, or at
    the end-of-treatment visit. Each laboratory value carries that
    laboratory's reference range (U/L)."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="assessments",
                                verbose_name=_("patient"))
    cycle = models.OneToOneField(TreatmentCycle, on_delete=models.PROTECT, null=True, blank=True,
                                 related_name="assessment", verbose_name=_("cycle"))
    timepoint = models.CharField(_("timepoint"), max_length=10, choices=AssessmentTimepoint.choices,
                                 default=AssessmentTimepoint.PRE_CYCLE)
    assessment_date = models.DateField(_("assessment date"))

    mmt_scale = models.CharField(_("muscle testing scale"), max_length=10, choices=MMTScale.choices,
                                 default=MMTScale.KENDALL)
    mmt_neck_flexors = _grade_field(_("neck flexors"))
    mmt_deltoid = _grade_field(_("deltoid (middle)"))
    mmt_biceps = _grade_field(_("biceps"))
    mmt_wrist_extensors = _grade_field(_("wrist extensors"))
    mmt_gluteus_maximus = _grade_field(_("gluteus maximus"))
    mmt_gluteus_medius = _grade_field(_("gluteus medius"))
    mmt_quadriceps = _grade_field(_("quadriceps"))
    mmt_ankle_dorsiflexors = _grade_field(_("ankle dorsiflexors"))
    mmt_total_reported = models.PositiveSmallIntegerField(
        _("MMT-8 total (reported alone)"), null=True, blank=True,
        help_text=_("When only the total was recorded (no grades): 0-80 on the Kendall scale, 0-40 on MRC."))
    mmt_total = models.PositiveSmallIntegerField(
        _("MMT-8 total"), null=True, blank=True, editable=False,
        help_text=_("Derived: the sum of the eight grades, else the total reported alone."))

    ck_u_per_l = _lab_field(_("CK (U/L)"))
    ck_lln_u_per_l = _lab_field(_("CK lower limit (U/L)"))
    ck_uln_u_per_l = _lab_field(_("CK upper limit (U/L)"))
    aldolase_u_per_l = _lab_field(_("aldolase (U/L)"))
    aldolase_uln_u_per_l = _lab_field(_("aldolase upper limit (U/L)"))
    ldh_u_per_l = _lab_field(_("LDH (U/L)"))
    ldh_uln_u_per_l = _lab_field(_("LDH upper limit (U/L)"))
    ast_u_per_l = _lab_field(_("AST (U/L)"))
    ast_uln_u_per_l = _lab_field(_("AST upper limit (U/L)"))
    alt_u_per_l = _lab_field(_("ALT (U/L)"))
    alt_uln_u_per_l = _lab_field(_("ALT upper limit (U/L)"))

    physician_global = models.DecimalField(_("physician global activity (0-10)"), max_digits=3,
                                           decimal_places=1, null=True, blank=True)
    patient_global = models.DecimalField(_("patient global activity (0-10)"), max_digits=3,
                                         decimal_places=1, null=True, blank=True)
    extramuscular_global = models.DecimalField(_("extramuscular activity (0-10)"), max_digits=3,
                                               decimal_places=1, null=True, blank=True)
    haq = models.DecimalField(_("HAQ disability index (0-3)"), max_digits=4, decimal_places=3,
                              null=True, blank=True)

    voided_at = models.DateTimeField(_("voided at"), null=True, blank=True, editable=False)
    void_reason = models.TextField(_("reason for voiding"), blank=True, editable=False)

    history = HistoricalRecords()
    objects = AssessmentQuerySet.as_manager()
    CHANGE_LOG_EXCLUDE = ClinicalRecord.CHANGE_LOG_EXCLUDE + ("patient", "cycle")
    PARENT_FIELDS = ("cycle", "patient")  # a pre-cycle assessment: its cycle; end of treatment: the patient

    GRADE_FIELDS = tuple(name for name, _ in rules.MMT8_GROUPS)
    LAB_FIELDS = ("ck_u_per_l", "ck_lln_u_per_l", "ck_uln_u_per_l", "aldolase_u_per_l",
                  "aldolase_uln_u_per_l", "ldh_u_per_l", "ldh_uln_u_per_l", "ast_u_per_l",
                  "ast_uln_u_per_l", "alt_u_per_l", "alt_uln_u_per_l")
    SCORE_FIELDS = ("physician_global", "patient_global", "extramuscular_global", "haq")
    #: Every optional clinical value may carry a missing-data code (core.missing).
    MISSING_ALLOWED = GRADE_FIELDS + LAB_FIELDS + SCORE_FIELDS

    class Meta:
        verbose_name = _("assessment")
        verbose_name_plural = _("assessments")
        ordering = ["patient", "assessment_date"]
        constraints = [
            models.UniqueConstraint(fields=["patient"], condition=Q(timepoint="end", voided_at__isnull=True),
                                    name="assessment_one_end_of_treatment"),
            models.CheckConstraint(condition=Q(timepoint="end", cycle__isnull=True) |
                                   Q(timepoint="pre_cycle", cycle__isnull=False),
                                   name="assessment_timepoint_matches_cycle"),
            models.CheckConstraint(condition=Q(ck_u_per_l__isnull=True) | Q(ck_u_per_l__gte=0),
                                   name="assessment_ck_not_negative"),
        ]

    def __str__(self):
        return f"{self.get_timepoint_display()} {self.assessment_date}"

    @property
    def grades(self):
        return [getattr(self, name) for name in self.GRADE_FIELDS]

    @property
    def mmt_max_total(self):
        return rules.mmt_max_total(self.mmt_scale)

    def labs(self):
        return [
            rules.Lab(_("CK"), "ck_u_per_l", self.ck_u_per_l, "ck_uln_u_per_l", self.ck_uln_u_per_l,
                      "ck_lln_u_per_l", self.ck_lln_u_per_l),
            rules.Lab(_("aldolase"), "aldolase_u_per_l", self.aldolase_u_per_l,
                      "aldolase_uln_u_per_l", self.aldolase_uln_u_per_l),
            rules.Lab(_("LDH"), "ldh_u_per_l", self.ldh_u_per_l, "ldh_uln_u_per_l", self.ldh_uln_u_per_l),
            rules.Lab(_("AST"), "ast_u_per_l", self.ast_u_per_l, "ast_uln_u_per_l", self.ast_uln_u_per_l),
            rules.Lab(_("ALT"), "alt_u_per_l", self.alt_u_per_l, "alt_uln_u_per_l", self.alt_uln_u_per_l),
        ]

    def clean(self):
        if not self.patient_id:
            return
        is_end = self.timepoint == AssessmentTimepoint.END_OF_TREATMENT
        last_start = None
        if is_end and "last_cycle_start" in self.__dict__:  # read with the row (with_last_cycle_start)
            last_start = self.last_cycle_start
        elif is_end:
            last_start = (TreatmentCycle.objects.filter(patient_id=self.patient_id)
                          .order_by("-number").values_list("start_date", flat=True).first())
        raise_violations(rules.assessment_violations(
            today=timezone.localdate(), assessment_date=self.assessment_date,
            cycle_start=self.cycle.start_date if self.cycle else None,
            is_end_of_treatment=is_end, last_cycle_start=last_start,
            enrolment_date=self.patient.enrolment_date, scale=self.mmt_scale,
            grades={name: getattr(self, name) for name in self.GRADE_FIELDS},
            labs=self.labs(),
            globals_={"physician_global": self.physician_global,
                      "patient_global": self.patient_global,
                      "extramuscular_global": self.extramuscular_global},
            haq=self.haq, mmt_total_reported=self.mmt_total_reported,
        ))

    @property
    def mmt_total_source(self):
        """"grades", "reported" or None (``visits.rules.mmt_total_source``)."""
        return rules.mmt_total_source(self.grades, self.mmt_total_reported)

    def save(self, *args, **kwargs):
        self.mmt_total = rules.mmt_total(self.grades, self.mmt_total_reported)  # derived, never typed
        if self.cycle is not None:
            self.patient_id = self.cycle.patient_id
        super().save(*args, **kwargs)


class InfusionDay(models.IntegerChoices):
    DAY_1 = 1, _("Day 1")
    DAY_2 = 2, _("Day 2")


class Infusion(MissingCodesRecord, ClinicalRecord):
    """One IVIG infusion day. The prescribed dose is derived from the cycle's
    dosing weight; the deviations are in the protocol-deviation log."""

    cycle = models.ForeignKey(TreatmentCycle, on_delete=models.PROTECT, related_name="infusions",
                              verbose_name=_("cycle"))
    day = models.PositiveSmallIntegerField(_("day"), choices=InfusionDay.choices)
    infusion_date = models.DateField(_("infusion date"))
    start_time = models.TimeField(_("start time"), null=True, blank=True)
    end_time = models.TimeField(_("end time"), null=True, blank=True)
    product = models.CharField(_("product"), max_length=100, default="Polyvalent IVIG 10 %", validators=[validate_ascii_code])
    lot = models.CharField(_("lot number"), max_length=50, validators=[validate_ascii_code])
    concentration_pct = models.DecimalField(_("concentration (%)"), max_digits=4, decimal_places=1,
                                            default=Decimal("10"))
    volume_ml = models.DecimalField(_("volume (mL)"), max_digits=6, decimal_places=1, null=True, blank=True,
                                    help_text=_("Required unless recorded as not done."))
    dose_g = models.DecimalField(_("dose given (g)"), max_digits=5, decimal_places=1)
    max_rate_ml_per_h = models.DecimalField(_("maximum rate (mL/h)"), max_digits=6, decimal_places=1,
                                            null=True, blank=True,
                                            help_text=_("Required unless recorded as not done."))

    # Derived, stored by visits.services (rules.derive_infusion) ----------------
    prescribed_dose_g = _derived(models.DecimalField(
        _("prescribed dose (g)"), max_digits=6, decimal_places=1, null=True, blank=True),
        _("the cycle's prescribed daily dose."))
    dose_difference_pct = _derived(models.DecimalField(
        _("dose difference (%)"), max_digits=10, decimal_places=1, null=True, blank=True),
        _("(given - prescribed) / prescribed x 100."))
    dose_within_tolerance = _derived(models.BooleanField(
        _("dose within tolerance"), null=True, blank=True),
        _("the dose given is within the tolerance of the prescription."))
    rate_ml_per_kg_min = _derived(models.DecimalField(
        _("maximum rate (mL/kg/min)"), max_digits=10, decimal_places=3, null=True, blank=True),
        _("the maximum rate per kg of actual body weight."))
    rate_limit_ml_per_kg_min = _derived(models.DecimalField(
        _("rate limit (mL/kg/min)"), max_digits=5, decimal_places=3, null=True, blank=True),
        _("the rate limit in force on the cycle's start date."))
    rate_within_limit = _derived(models.BooleanField(
        _("rate within the limit"), null=True, blank=True),
        _("the maximum rate is at most the limit."))
    rules_version = _rules_version()

    history = HistoricalRecords()
    CHANGE_LOG_EXCLUDE = ClinicalRecord.CHANGE_LOG_EXCLUDE + ("cycle",)
    SIGNATURE_EXCLUDE = ClinicalRecord.SIGNATURE_EXCLUDE + rules.INFUSION_DERIVED_FIELDS
    PARENT_FIELDS = ("cycle",)
    #: Optional (times) or required-unless-coded (volume, rate) values (core.missing).
    MISSING_ALLOWED = ("start_time", "end_time", "volume_ml", "max_rate_ml_per_h")
    MISSING_REQUIRED = ("volume_ml", "max_rate_ml_per_h")

    class Meta:
        verbose_name = _("infusion")
        verbose_name_plural = _("infusions")
        ordering = ["cycle", "day"]
        constraints = [
            models.UniqueConstraint(fields=["cycle", "day"], name="infusion_unique_day"),
            models.CheckConstraint(condition=Q(dose_g__gt=0), name="infusion_dose_positive"),
        ]

    def __str__(self):
        return f"{self.cycle} day {self.day}"

    def review_parents(self):
        return [self.cycle, self.cycle.patient] if self.cycle_id else []

    def clean(self):
        try:
            cycle = self.cycle
        except TreatmentCycle.DoesNotExist:
            cycle = None
        patient = cycle.patient if cycle else None
        raise_violations(rules.infusion_violations(
            today=timezone.localdate(), day=self.day, infusion_date=self.infusion_date,
            cycle_start=cycle.start_date if cycle else None,
            enrolment_date=patient.enrolment_date if patient else None,
            withdrawal_date=patient.withdrawal_date if patient else None,
            start_time=self.start_time, end_time=self.end_time, dose_g=self.dose_g,
            volume_ml=self.volume_ml, concentration_pct=self.concentration_pct,
            max_rate_ml_per_h=self.max_rate_ml_per_h,
        ))


class DeviationQuerySet(models.QuerySet):
    """Deviation rows are never changed (the table is append-only): a row a newer
    row of the same cause follows without having been resolved is *superseded*
    (its description was recomputed). Lists, counts and exports read
    :meth:`current`; :meth:`open` is the current rows not resolved."""

    def current(self):
        """The deviation log: every row but the superseded ones (resolved ones stay).

        "No successor" as NOT EXISTS rather than a LEFT JOIN ... IS NULL: PostgreSQL
        estimated the OR over the outer join at one row and then scanned every deviation
        for each patient of a cohort (an export's 500 patients: 340 ms instead of 6 ms)."""
        superseding = ProtocolDeviation.objects.filter(predecessor=models.OuterRef("pk"))
        return self.filter(~models.Exists(superseding) | Q(resolved_at__isnull=False))

    def open(self):
        return self.filter(successor__isnull=True, resolved_at__isnull=True)


class ProtocolDeviation(ClinicalRecord):
    """A protocol deviation found by the rules in ``visits/rules.py``.

    Append-only (``oversight/append_only.py``: the database refuses UPDATE and
    DELETE): a row is never changed. When a correction removes the cause, a
    new row with ``resolved_at`` and ``resolution`` (the reason for that
    correction) follows the open one; when it only changes the description, a
    new open row with the new description follows it. The rows of one cause
    (cycle, kind, day) form one chain through ``predecessor``: the first has
    none, each row has at most one successor, so at most one row of a cause
    is open (the unresolved end of the chain). A row whose successor exists
    while it is unresolved is superseded and left out of the log
    (:meth:`DeviationQuerySet.current`); a resolved row stays in the log, and
    a cause that comes back opens a new row after it.
    """

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="deviations",
                                verbose_name=_("patient"))
    cycle = models.ForeignKey(TreatmentCycle, on_delete=models.PROTECT, related_name="deviations",
                              verbose_name=_("cycle"))
    day = models.PositiveSmallIntegerField(
        _("day"), default=0, choices=[(0, _("Whole cycle"))] + InfusionDay.choices,
        help_text=_("The infusion day concerned; 0 for the whole cycle (e.g. the visit window)."))
    kind = models.CharField(_("kind"), max_length=20, choices=DeviationKind.choices)
    description = models.TextField(_("description"))
    detected_at = models.DateTimeField(_("detected at"), default=timezone.now)
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    resolution = models.TextField(_("resolution"), blank=True)
    predecessor = models.OneToOneField(
        "self", verbose_name=_("predecessor"), on_delete=models.PROTECT, null=True, blank=True, editable=False, related_name="successor",
        help_text=_("The previous row of the same cause: the open row this one resolves or re-describes, "
                    "or the resolved row after which the cause came back."))

    history = HistoricalRecords()
    objects = DeviationQuerySet.as_manager()
    PARENT_FIELDS = ("cycle", "patient")

    @classmethod
    def write_permission(cls, creating):
        return None  # written by the rules (``deviations_refresh``) for a write already authorised

    class Meta:
        verbose_name = _("protocol deviation")
        verbose_name_plural = _("protocol deviations")
        ordering = ["-detected_at", "pk"]
        constraints = [
            # One chain per cause; with the one-to-one predecessor, one end, so one open row.
            models.UniqueConstraint(fields=["cycle", "kind", "day"],
                                    condition=Q(predecessor__isnull=True),
                                    name="deviation_one_chain_per_cause"),
        ]
        indexes = [models.Index(fields=["patient", "resolved_at"])]

    def __str__(self):
        return f"{self.get_kind_display()}: {self.description}"

    @property
    def is_open(self):
        """On a current row (the log, ``DeviationQuerySet.current``): not resolved."""
        return self.resolved_at is None

    @property
    def description_text(self):
        """The stored (English) description in the active language, for the screen
        (``rules.deviation_text``); the stored text when no template reads it."""
        return rules.deviation_text(self.description)


class MissedCycleQuerySet(models.QuerySet):
    def current(self):
        return self.filter(voided_at__isnull=True)


class MissedCycle(ClinicalRecord):
    """A month without infusion: the planned date of the cycle it replaces and why.

    Written by ``visits.services.missed_cycle_save`` / ``missed_cycle_void`` (never
    deleted): the next cycle is then planned from the missed cycle's planned date
    (``visits.rules.next_cycle``), stored on the patient by the service."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="missed_cycles",
                                verbose_name=_("patient"))
    planned_date = models.DateField(_("planned date replaced"),
                                    help_text=_("The planned day 1 of the cycle that was not given."))
    reason = models.CharField(_("reason"), max_length=20, choices=rules.MissedCycleReason.choices)
    reason_detail = models.TextField(_("details"), blank=True, max_length=1000,
                                     help_text=_('Free text; required for "Other".'))

    voided_at = models.DateTimeField(_("voided at"), null=True, blank=True, editable=False)
    void_reason = models.TextField(_("reason for voiding"), blank=True, editable=False)

    history = HistoricalRecords()
    objects = MissedCycleQuerySet.as_manager()
    CHANGE_LOG_EXCLUDE = ClinicalRecord.CHANGE_LOG_EXCLUDE + ("patient",)
    PARENT_FIELDS = ("patient",)

    class Meta:
        verbose_name = _("missed cycle")
        verbose_name_plural = _("missed cycles")
        ordering = ["patient", "planned_date"]
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "planned_date"], condition=Q(voided_at__isnull=True),
                name="missed_cycle_one_per_planned_date", violation_error_code="missed_taken",
                violation_error_message=_("A missed cycle is already recorded for this planned date.")),
        ]

    def __str__(self):
        return f"Missed cycle planned {self.planned_date:%Y-%m-%d}" if self.planned_date else "Missed cycle"

    @property
    def is_voided(self):
        return self.voided_at is not None

    def clean(self):
        if not self.patient_id:
            return
        starts = list(TreatmentCycle.objects.filter(patient_id=self.patient_id)
                      .values_list("start_date", flat=True))
        raise_violations(rules.missed_cycle_violations(
            today=timezone.localdate(), planned_date=self.planned_date,
            enrolment_date=self.patient.enrolment_date, withdrawal_date=self.patient.withdrawal_date,
            cycle_starts=starts, reason=self.reason, reason_detail=self.reason_detail))
