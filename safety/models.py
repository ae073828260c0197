from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from simple_history.models import HistoricalRecords

from core.models import ClinicalRecord
from core.validation import raise_violations
from patients.models import Patient
from visits.models import Infusion

from . import rules


class Relatedness(models.TextChoices):
    """WHO-UMC causality categories."""

    CERTAIN = "certain", "Certain"
    PROBABLE = "probable", "Probable / likely"
    POSSIBLE = "possible", "Possible"
    UNLIKELY = "unlikely", "Unlikely"
    CONDITIONAL = "conditional", "Conditional / unclassified"
    UNASSESSABLE = "unassessable", "Unassessable / unclassifiable"


class ActionTaken(models.TextChoices):
    NONE = "none", "None"
    RATE_REDUCED = "rate_reduced", "Rate reduced"
    INTERRUPTED = "interrupted", "Infusion interrupted"
    WITHDRAWN = "withdrawn", "IVIG withdrawn"


class Outcome(models.TextChoices):
    RECOVERED = "recovered", "Recovered / resolved"
    RECOVERING = "recovering", "Recovering / resolving"
    NOT_RECOVERED = "not_recovered", "Not recovered / not resolved"
    SEQUELAE = "sequelae", "Recovered with sequelae"
    FATAL = rules.FATAL, "Fatal"
    UNKNOWN = "unknown", "Unknown"


class AdverseEventQuerySet(models.QuerySet):
    def current(self):
        return self.filter(voided_at__isnull=True)

    def awaiting_review(self):
        """Serious events not yet reviewed (the expedited 24-hour queue)."""
        return self.current().filter(serious=True, reviewed_at__isnull=True)


def _criterion(label):
    return models.BooleanField(label, default=False)


class AdverseEvent(ClinicalRecord):
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="adverse_events")
    infusion = models.ForeignKey(Infusion, on_delete=models.PROTECT, null=True, blank=True,
                                 related_name="adverse_events",
                                 help_text="The infusion the event followed, if any.")
    term = models.CharField("event term", max_length=200,
                            help_text="E.g. headache, infusion-related reaction, aseptic meningitis.")
    description = models.TextField(blank=True)
    onset_date = models.DateField()
    end_date = models.DateField(null=True, blank=True, help_text="Empty while ongoing.")
    grade = models.PositiveSmallIntegerField("CTCAE grade", choices=sorted(rules.CTCAE_GRADES.items()))
    serious = models.BooleanField(default=False)
    serious_death = _criterion("results in death")
    serious_life_threatening = _criterion("life-threatening")
    serious_hospitalisation = _criterion("requires or prolongs hospitalisation")
    serious_disability = _criterion("persistent or significant disability")
    serious_congenital_anomaly = _criterion("congenital anomaly / birth defect")
    serious_medically_important = _criterion("medically important event")
    relatedness = models.CharField("relatedness to IVIG (WHO-UMC)", max_length=15,
                                   choices=Relatedness.choices)
    action_taken = models.CharField("action taken with IVIG", max_length=15,
                                    choices=ActionTaken.choices, default=ActionTaken.NONE)
    outcome = models.CharField(max_length=15, choices=Outcome.choices)

    # Expedited review of serious events (the review workflow is in oversight).
    reviewed_at = models.DateTimeField(null=True, blank=True, editable=False)
    reviewed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True,
                                    blank=True, editable=False, related_name="+")

    voided_at = models.DateTimeField(null=True, blank=True, editable=False)
    void_reason = models.TextField(blank=True, editable=False)

    history = HistoricalRecords()
    objects = AdverseEventQuerySet.as_manager()
    CHANGE_LOG_EXCLUDE = ClinicalRecord.CHANGE_LOG_EXCLUDE + ("patient",)
    CRITERIA = tuple(name for name, _ in rules.SERIOUSNESS_CRITERIA)

    class Meta:
        ordering = ["-onset_date", "-pk"]
        constraints = [
            models.CheckConstraint(condition=Q(grade__gte=1) & Q(grade__lte=5), name="ae_grade_1_to_5"),
            models.CheckConstraint(condition=Q(end_date__isnull=True) | Q(end_date__gte=models.F("onset_date")),
                                   name="ae_end_not_before_onset"),
        ]
        indexes = [models.Index(fields=["serious", "reviewed_at"])]

    def __str__(self):
        return f"{self.term} (grade {self.grade})"

    def get_absolute_url(self):
        return reverse("safety:ae_update", args=[self.patient_id, self.pk])

    @property
    def review_due_at(self):
        return rules.review_due_at(self.created_at) if self.serious and self.created_at else None

    @property
    def review_overdue(self):
        due = self.review_due_at
        return bool(due and self.reviewed_at is None and timezone.now() > due)

    @property
    def criteria_labels(self):
        return [label for name, label in rules.SERIOUSNESS_CRITERIA if getattr(self, name)]

    def clean(self):
        if not self.patient_id:
            return
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
        ))
