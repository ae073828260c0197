from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from accounts.scoping import may
from core.models import ClinicalRecord
from core.validation import raise_violations
from patients.models import Patient
from visits.models import Infusion

from . import rules
# One definition per concept, in rules.py; re-exported here for the fields and the other apps.
from .rules import ActionTaken, Outcome, Relatedness, ReviewKind  # noqa: F401


class AdverseEventQuerySet(models.QuerySet):
    def current(self):
        return self.filter(voided_at__isnull=True)

    def awaiting_review(self):
        """Serious events not yet reviewed (the expedited 24-hour queue)."""
        return self.current().filter(serious=True, reviewed_at__isnull=True)

    def with_review_state(self):
        """Annotate the acknowledgement (``acknowledged_at``, ``acknowledged_by_name``)
        and the latest medical review's ``reviewer_relatedness``, in the same query."""
        reviews = AdverseEventReview.objects.filter(adverse_event=models.OuterRef("pk"))
        first_ack = reviews.filter(kind=ReviewKind.ACKNOWLEDGEMENT).order_by("reviewed_at", "pk")
        latest_medical = reviews.filter(kind=ReviewKind.MEDICAL_REVIEW).order_by("-reviewed_at", "-pk")
        return self.annotate(
            acknowledged_at=models.Subquery(first_ack.values("reviewed_at")[:1]),
            acknowledged_by_name=models.Subquery(first_ack.values("reviewer__username")[:1]),
            reviewer_relatedness=models.Subquery(latest_medical.values("reviewer_relatedness")[:1]),
        )

    def serious_queue(self, *, now):
        """The expedited queue: unreviewed serious events first, earliest due (24 hours
        from awareness) first; then those reviewed within ``QUEUE_RECENT_WINDOW``,
        most recent review first."""
        recent = now - rules.QUEUE_RECENT_WINDOW
        return (self.current().filter(serious=True)
                .filter(Q(reviewed_at__isnull=True) | Q(reviewed_at__gte=recent))
                .order_by(models.F("reviewed_at").desc(nulls_first=True), "report_due_at", "pk"))


_CRITERION_LABELS = dict(rules.SERIOUSNESS_CRITERIA)


def _criterion(name):
    return models.BooleanField(_CRITERION_LABELS[name], default=False)


class AdverseEvent(ClinicalRecord):
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="adverse_events",
                                verbose_name=_("patient"))
    infusion = models.ForeignKey(Infusion, on_delete=models.PROTECT, null=True, blank=True,
                                 related_name="adverse_events",
                                 verbose_name=_("infusion"), help_text=_("The infusion the event followed, if any."))
    term = models.CharField(_("event term as reported"), max_length=200,
                            help_text=_("The verbatim term, as the patient or the investigator reported it, "
                                        "e.g. headache, infusion-related reaction, aseptic meningitis."))
    coded_term = models.ForeignKey(
        "coding.MeddraTerm", on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("coded term (CTCAE v5.0)"),
        help_text=_("The CTCAE v5.0 term (a MedDRA lowest level term) that codes the event. Empty: to code."))
    # The coded facts, copied from the dictionary term by safety.services (rules.coded_facts): a later
    # dictionary load does not change them; recoding is an edit with a reason.
    meddra_llt_name = models.CharField(_("MedDRA lowest level term"), max_length=200, blank=True, editable=False)
    meddra_llt_code = models.CharField(_("MedDRA LLT code"), max_length=8, blank=True, editable=False)
    meddra_pt_name = models.CharField(_("MedDRA preferred term"), max_length=200, blank=True, editable=False)
    meddra_pt_code = models.CharField(_("MedDRA PT code"), max_length=8, blank=True, editable=False)
    meddra_soc_name = models.CharField(_("MedDRA system organ class"), max_length=200, blank=True, editable=False)
    meddra_soc_code = models.CharField(_("MedDRA SOC code"), max_length=8, blank=True, editable=False)
    meddra_source = models.CharField(_("coding dictionary"), max_length=40, blank=True, editable=False)
    description = models.TextField(_("description"), blank=True)
    onset_date = models.DateField(_("onset date"))
    end_date = models.DateField(_("end date"), null=True, blank=True, help_text=_("Empty while ongoing."))
    grade = models.PositiveSmallIntegerField(_("CTCAE grade"), choices=sorted(rules.CTCAE_GRADES.items()))
    serious = models.BooleanField(_("serious"), default=False)
    serious_death = _criterion("serious_death")
    serious_life_threatening = _criterion("serious_life_threatening")
    serious_hospitalisation = _criterion("serious_hospitalisation")
    serious_disability = _criterion("serious_disability")
    serious_congenital_anomaly = _criterion("serious_congenital_anomaly")
    serious_medically_important = _criterion("serious_medically_important")
    relatedness = models.CharField(_("relatedness to IVIG (WHO-UMC)"), max_length=15,
                                   choices=Relatedness.choices)
    action_taken = models.CharField(_("action taken with IVIG"), max_length=15,
                                    choices=ActionTaken.choices, default=ActionTaken.NONE)
    outcome = models.CharField(_("outcome"), max_length=15, choices=Outcome.choices)
    aware_at = models.DateTimeField(
        _("site aware of the event at"), null=True, blank=True,
        help_text=_("When the site became aware of the event (of a serious event: of its seriousness); "
                    "the 24-hour clock of a serious event runs from it. Empty: the time of entry."))

    # Stored facts of the SAE clock, computed by rules.sae_facts in safety.services (never typed in).
    sae_entered_at = models.DateTimeField(
        _("entered as serious at"), null=True, blank=True, editable=False,
        help_text=_("When the event was first stored as serious: its report through this system."))
    report_due_at = models.DateTimeField(
        _("serious event due at"), null=True, blank=True, editable=False,
        help_text=_("24 hours after awareness: the report and the expedited review are due."))
    reported_late = models.BooleanField(
        _("reported late"), default=False, editable=False,
        help_text=_("A serious event entered more than 24 hours after the site became aware of it."))
    rules_version = models.CharField(_("rules version"), max_length=32, blank=True, editable=False,
                                     help_text=_("The version of safety/rules.py that computed the stored facts."))

    # Expedited review of serious events (the review workflow is in oversight).
    reviewed_at = models.DateTimeField(_("reviewed at"), null=True, blank=True, editable=False)
    reviewed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True,
                                    blank=True, editable=False, related_name="+", verbose_name=_("reviewed by"))

    voided_at = models.DateTimeField(_("voided at"), null=True, blank=True, editable=False)
    void_reason = models.TextField(_("void reason"), blank=True, editable=False)

    history = HistoricalRecords()
    objects = AdverseEventQuerySet.as_manager()
    CHANGE_LOG_EXCLUDE = ClinicalRecord.CHANGE_LOG_EXCLUDE + ("patient", "rules_version")
    SIGNATURE_EXCLUDE = ClinicalRecord.SIGNATURE_EXCLUDE + ("rules_version",)
    # The optional infusion is a link, not a parent: it may be corrected, to an
    # infusion of the same patient only (``ae_violations``, ``infusion_patient_ok``).
    PARENT_FIELDS = ("patient",)
    CRITERIA = tuple(name for name, _ in rules.SERIOUSNESS_CRITERIA)

    class Meta:
        verbose_name = _("adverse event")
        verbose_name_plural = _("adverse events")
        ordering = ["-onset_date", "-pk"]
        constraints = [
            models.CheckConstraint(condition=Q(grade__gte=1) & Q(grade__lte=5), name="ae_grade_1_to_5"),
            models.CheckConstraint(condition=Q(end_date__isnull=True) | Q(end_date__gte=models.F("onset_date")),
                                   name="ae_end_not_before_onset"),
        ]
        indexes = [models.Index(fields=["serious", "reviewed_at"]),
                   models.Index(fields=["serious", "reported_late"])]
        permissions = [("review_adverseevent", "Can acknowledge and review adverse events")]

    def __str__(self):
        return f"{self.term} (grade {self.grade})"

    def get_absolute_url(self):
        return reverse("safety:ae_update", args=[self.patient_id, self.pk])

    def entered_by_id(self):
        """The id of the user who entered the event (its creation history row)."""
        return (self.history.filter(history_type="+").order_by("history_date")
                .values_list("history_user_id", flat=True).first())

    @property
    def review_due_at(self):
        """The stored due time of a serious event (24 hours from awareness), else None."""
        return self.report_due_at if self.serious else None

    @property
    def review_overdue(self):
        due = self.review_due_at
        return bool(due and self.reviewed_at is None and timezone.now() > due)

    @property
    def reviewer_relatedness_label(self):
        """The latest medical review's relatedness, on rows from ``with_review_state()``."""
        code = getattr(self, "reviewer_relatedness", None)
        return str(Relatedness(code).label) if code else ""

    @property
    def criteria_labels(self):
        """The ticked seriousness criteria, in the active language (plain strings: joined by
        pages, e-mails and listings; an export builds them under ``accounts.languages.neutral``)."""
        return [str(label) for name, label in rules.SERIOUSNESS_CRITERIA if getattr(self, name)]

    def _stored_coded_term_id(self):
        if self.pk is None:
            return None
        return type(self).objects.filter(pk=self.pk).values_list("coded_term_id", flat=True).first()

    def save(self, *args, **kwargs):
        """An event stored by a path that skipped ``safety.services.adverse_event_save``
        (a fixture, a bulk writer) still gets its derived facts (awareness, the SAE
        clock), computed by the same function; the service's own values are kept."""
        if not self.rules_version or self.aware_at is None:
            from .services import adverse_event_derive  # (services import the models)

            adverse_event_derive(self, now=timezone.now())
        super().save(*args, **kwargs)

    @property
    def is_coded(self):
        return bool(self.meddra_llt_code)

    def clean(self):
        if not self.patient_id:
            return
        term_changed = bool(self.coded_term_id) and (self.coded_term_id != self._stored_coded_term_id())
        raise_violations(rules.coding_violations(
            term_chosen=bool(self.coded_term_id), term_changed=term_changed,
            term_current=bool(self.coded_term_id) and type(self).coded_term.field.related_model.objects.filter(
                pk=self.coded_term_id, current=True).exists()))
        infusion_date, same_patient = None, True
        if self.infusion_id:
            infusion = Infusion.objects.select_related("cycle").get(pk=self.infusion_id)
            infusion_date = infusion.infusion_date
            same_patient = infusion.cycle.patient_id == self.patient_id
        raise_violations(rules.ae_violations(
            today=timezone.localdate(), grade=self.grade, serious=self.serious,
            criteria={name: getattr(self, name) for name in self.CRITERIA}, outcome=self.outcome,
            onset_date=self.onset_date, end_date=self.end_date,
            enrolment_date=self.patient.enrolment_date, infusion_date=infusion_date,
            infusion_patient_ok=same_patient,
        ) + rules.awareness_violations(
            aware_at=self.aware_at, onset_date=self.onset_date, now=timezone.now(),
            aware_date=timezone.localtime(self.aware_at).date() if self.aware_at else None,
        ))


class AdverseEventReview(ClinicalRecord):
    """A monitor's or administrator's acknowledgement or medical review of an event.

    The acknowledgement says "seen, on it"; the first medical review sets the
    event's ``reviewed_at`` / ``reviewed_by``, which stops the 24-hour clock and
    clears the serious-event banner (see ``safety.services``).

    Append-only (``oversight/append_only.py``: the database refuses UPDATE and
    DELETE): a review is never edited or withdrawn. A reviewer who changes
    their mind adds another medical review; the latest one is the reviewer's
    assessment (``AdverseEventQuerySet.with_review_state``), the earlier ones
    stay on the page. There is one acknowledgement per event.
    """

    adverse_event = models.ForeignKey(AdverseEvent, on_delete=models.PROTECT, related_name="reviews",
                                      verbose_name=_("adverse event"))
    kind = models.CharField(_("kind"), max_length=20, choices=ReviewKind.choices)
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, editable=False,
                                 related_name="+", verbose_name=_("reviewer"))
    reviewed_at = models.DateTimeField(_("reviewed at"), default=timezone.now, editable=False)
    comment = models.TextField(_("comment"), blank=True, help_text=_("Required for a medical review."))
    reviewer_relatedness = models.CharField(
        _("reviewer's relatedness to IVIG (WHO-UMC)"), max_length=15, choices=Relatedness.choices, blank=True,
        help_text=_("Your own causality assessment; required for a medical review."))
    agrees_with_seriousness = models.BooleanField(
        _("agrees with the seriousness assessment"), null=True, blank=True)

    history = HistoricalRecords()
    CHANGE_LOG_EXCLUDE = ClinicalRecord.CHANGE_LOG_EXCLUDE + ("adverse_event",)
    PARENT_FIELDS = ("adverse_event",)

    class Meta:
        verbose_name = _("adverse event review")
        verbose_name_plural = _("adverse event reviews")
        ordering = ["reviewed_at", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind=rules.ACKNOWLEDGEMENT)
                | (Q(kind=rules.MEDICAL_REVIEW) & ~Q(comment="") & ~Q(reviewer_relatedness="")),
                name="ae_review_medical_needs_comment_and_relatedness"),
            models.UniqueConstraint(
                fields=["adverse_event"], condition=Q(kind=rules.ACKNOWLEDGEMENT),
                name="ae_review_one_acknowledgement",
                violation_error_message=_("This event is already acknowledged."),
                violation_error_code="already_acknowledged"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} of {self.adverse_event} by {self.reviewer}"

    @classmethod
    def write_permission(cls, creating):
        return None  # the reviewer's role at the event's site is a model rule (``not_a_reviewer``)

    def clean(self):
        if not self.adverse_event_id:
            return
        event = self.adverse_event
        reviewed = self.kind == ReviewKind.ACKNOWLEDGEMENT and (
            event.reviewed_at is not None
            or event.reviews.filter(kind=ReviewKind.MEDICAL_REVIEW).exclude(pk=self.pk).exists())
        raise_violations(rules.review_violations(
            kind=self.kind, comment=self.comment, reviewer_relatedness=self.reviewer_relatedness,
            reviewer_may_review=bool(self.reviewer_id) and may(self.reviewer, "safety.review_adverseevent",
                                                               site_id=event.patient.site_id),
            reviewer_entered_event=bool(self.reviewer_id) and event.entered_by_id() == self.reviewer_id,
            event_voided=event.voided_at is not None, already_reviewed=reviewed,
            reviewed_at=self.reviewed_at, entered_at=event.created_at,
        ))


class AdverseEventFollowUp(ClinicalRecord):
    """Follow-up of an event until it is resolved.

    A follow-up with a resolving outcome closes the event (its outcome and end
    date are updated in the same transaction, see ``safety.services``); after
    that no further follow-up is taken.

    Append-only (``oversight/append_only.py``): a follow-up is never edited;
    a correction is a later follow-up, whose outcome becomes the event's.
    """

    adverse_event = models.ForeignKey(AdverseEvent, on_delete=models.PROTECT, related_name="follow_ups",
                                      verbose_name=_("adverse event"))
    entered_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, editable=False,
                                   related_name="+", verbose_name=_("entered by"))
    follow_up_date = models.DateField(_("follow-up date"))
    note = models.TextField(_("note"),
                            help_text=_("What is known at this date: course, treatment, investigations."))
    outcome = models.CharField(_("outcome at this date"), max_length=15, choices=Outcome.choices)
    end_date = models.DateField(_("end date"), null=True, blank=True,
                                help_text=_("When the event ended; only with an outcome that resolves it."))

    history = HistoricalRecords()
    CHANGE_LOG_EXCLUDE = ClinicalRecord.CHANGE_LOG_EXCLUDE + ("adverse_event",)
    PARENT_FIELDS = ("adverse_event",)

    class Meta:
        verbose_name = _("adverse event follow-up")
        verbose_name_plural = _("adverse event follow-ups")
        ordering = ["follow_up_date", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(end_date__isnull=True) | Q(end_date__lte=models.F("follow_up_date")),
                name="ae_follow_up_end_not_after_follow_up"),
        ]

    def __str__(self):
        return f"Follow-up of {self.adverse_event} on {self.follow_up_date}"

    @property
    def resolves(self):
        return rules.is_resolved(self.outcome)

    def clean(self):
        if not self.adverse_event_id:
            return
        event = self.adverse_event
        raise_violations(rules.follow_up_violations(
            today=timezone.localdate(), follow_up_date=self.follow_up_date, outcome=self.outcome,
            end_date=self.end_date, onset_date=event.onset_date, event_outcome=event.outcome,
            event_voided=event.voided_at is not None, is_new=self.pk is None,
            event_is_death=event.grade == rules.DEATH_GRADE and event.serious and event.serious_death,
        ))
