from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from core.models import ClinicalRecord
from core.validation import raise_violations
from patients.models import Patient

from . import rules
# One definition per concept, in rules.py; re-exported here for the fields and the other apps.
from .rules import DoseUnit, Frequency, Route  # noqa: F401

#: The facts ``medications.services`` derives and stores (never typed in).
MEDICATION_FACTS = ("atc_name", "atc_class_code", "atc_class_name", "is_corticosteroid", "is_immunosuppressant",
                    "is_statin", "is_oestrogen", "started_during_study")


class ConcomitantMedicationQuerySet(models.QuerySet):
    def current(self):
        return self.filter(voided_at__isnull=True)


class ConcomitantMedication(ClinicalRecord):
    """A medication the patient takes besides IVIG (before or during the study);
    voided (with a reason), never deleted."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="medications",
                                verbose_name=_("patient"))
    drug_name = models.CharField(_("drug name"), max_length=200,
                                 help_text=_("As reported (brand or generic name)."))
    atc_code = models.CharField(_("ATC code"), max_length=7, blank=True,
                                help_text=_("WHO ATC code of the substance, when known (e.g. H02AB07)."))
    indication = models.CharField(_("indication"), max_length=200, blank=True)
    dose = models.DecimalField(_("dose"), max_digits=10, decimal_places=3, null=True, blank=True,
                               help_text=_("Per administration."))
    dose_unit = models.CharField(_("dose unit"), max_length=10, choices=DoseUnit.choices, blank=True)
    route = models.CharField(_("route"), max_length=30, choices=Route.choices, blank=True)
    frequency = models.CharField(_("frequency"), max_length=10, choices=Frequency.choices, blank=True)
    start_date = models.DateField(_("start date"))
    end_date = models.DateField(_("end date"), null=True, blank=True)
    ongoing = models.BooleanField(_("ongoing"), default=False,
                                  help_text=_("Still taken (then no end date)."))
    voided_at = models.DateTimeField(_("voided at"), null=True, blank=True, editable=False)
    void_reason = models.TextField(_("void reason"), blank=True, editable=False)

    # Derived (medications.rules.medication_facts), stored by medications.services.
    atc_name = models.CharField(_("ATC name"), max_length=100, blank=True, editable=False)
    atc_class_code = models.CharField(_("ATC class code"), max_length=5, blank=True, editable=False)
    atc_class_name = models.CharField(_("ATC class"), max_length=100, blank=True, editable=False)
    is_corticosteroid = models.BooleanField(_("corticosteroid"), default=False, editable=False)
    is_immunosuppressant = models.BooleanField(_("immunosuppressant"), default=False, editable=False)
    is_statin = models.BooleanField(_("statin"), default=False, editable=False)
    is_oestrogen = models.BooleanField(_("oestrogen"), default=False, editable=False)
    started_during_study = models.BooleanField(
        _("started during the study"), default=False, editable=False,
        help_text=_("Derived: started on or after the first IVIG infusion."))
    rules_version = models.CharField(_("rules version"), max_length=32, blank=True, editable=False)

    history = HistoricalRecords()
    objects = ConcomitantMedicationQuerySet.as_manager()
    CHANGE_LOG_EXCLUDE = ClinicalRecord.CHANGE_LOG_EXCLUDE + ("patient", "rules_version")
    SIGNATURE_EXCLUDE = ClinicalRecord.SIGNATURE_EXCLUDE + MEDICATION_FACTS + ("rules_version",)
    PARENT_FIELDS = ("patient",)

    class Meta:
        verbose_name = _("concomitant medication")
        verbose_name_plural = _("concomitant medications")
        ordering = ["start_date", "pk"]
        constraints = [
            models.CheckConstraint(condition=Q(end_date__isnull=True) | Q(end_date__gte=models.F("start_date")),
                                   name="cm_end_not_before_start"),
            models.CheckConstraint(condition=~(Q(ongoing=True) & Q(end_date__isnull=False)),
                                   name="cm_ongoing_has_no_end"),
        ]
        indexes = [models.Index(fields=["patient", "start_date"])]

    def __str__(self):
        return f"{self.drug_name} ({self.start_date})"

    def get_absolute_url(self):
        return reverse("medications:medication_update", args=[self.patient_id, self.pk])

    @property
    def is_voided(self):
        return self.voided_at is not None

    def save(self, *args, **kwargs):
        """A row stored by a path that skipped ``medications.services`` (a fixture, a bulk
        writer) still gets its derived facts, computed by the same function."""
        if not self.rules_version:
            from .services import medication_derive  # (services import the models)

            medication_derive(self)
        super().save(*args, **kwargs)

    def clean(self):
        self.atc_code = rules.normal_atc(self.atc_code)
        birth_year = self.patient.birth_year if self.patient_id else None
        raise_violations(rules.medication_violations(
            today=timezone.localdate(), atc_code=self.atc_code, start_date=self.start_date,
            end_date=self.end_date, ongoing=self.ongoing, dose=self.dose, dose_unit=self.dose_unit,
            birth_year=birth_year))
