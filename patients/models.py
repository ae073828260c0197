from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from accounts.models import Site
from core.fingerprint import record_payload
from core.models import ClinicalRecord, Lockable, MissingCodesRecord
from core.validation import raise_violations

from . import rules


class Sex(models.TextChoices):
    FEMALE = "F", _("Female")
    MALE = "M", _("Male")


class Race(models.TextChoices):
    """CDISC SDTM RACE codelist (C74457), as collected and exported."""

    WHITE = "WHITE", _("White")
    BLACK = "BLACK OR AFRICAN AMERICAN", _("Black or African American")
    ASIAN = "ASIAN", _("Asian")
    AMERICAN_INDIAN = "AMERICAN INDIAN OR ALASKA NATIVE", _("American Indian or Alaska Native")
    PACIFIC = "NATIVE HAWAIIAN OR OTHER PACIFIC ISLANDER", _("Native Hawaiian or other Pacific Islander")
    MULTIPLE = "MULTIPLE", _("Multiple")
    OTHER = "OTHER", _("Other")
    NOT_REPORTED = "NOT REPORTED", _("Not reported")


class SuspectedCause(models.TextChoices):
    NONE = "none", _("None suspected")
    VIRAL = "viral", _("Viral infection")
    DRUG = "drug", _("Drug-induced")
    OTHER = "other", _("Other")


# One TextChoices per concept, defined with the rules that use them.
PatientStatus = rules.PatientStatus
Myopathy = rules.Myopathy
Certainty = rules.Certainty
IIMClass = rules.IIMClass
MalignancyTiming = rules.MalignancyTiming

#: Stored derived facts: set by ``patients.services`` from ``patients.rules``,
#: never typed; left out of signatures (they follow the signed data).
PATIENT_FACTS = ("age_at_enrolment", "age_at_onset", "disease_duration_at_enrolment_months",
                 "disease_duration_months", "first_infusion_date", "last_infusion_date",
                 "end_of_treatment_date")
DIAGNOSIS_FACTS = ("rash", "certainty", "eular_acr_score", "eular_acr_class")
MALIGNANCY_FACTS = ("timing",)
#: The next cycle's schedule, derived by ``visits.rules.next_cycle`` and stored by the visits services.
SCHEDULE_FACTS = ("next_cycle_planned_date", "next_cycle_window_start_date", "next_cycle_window_end_date")


subject_id_validator = RegexValidator(
    r"\A[0-9]{2}-[0-9]{3}\Z", _("A subject id is the site code, a hyphen and three digits, e.g. 01-001."),
    code="subject_id_format",
)


class StatusChangeError(Exception):
    """A status change the allowed-transitions map forbids."""


class PatientQuerySet(models.QuerySet):
    def with_related(self):
        """What list and detail pages show, in one query."""
        return self.select_related("site", "diagnosis")

    def next_cycle(self, status, *, today):
        """The patients whose stored next-cycle window (``visits.rules.next_cycle``) stands
        so against ``today``: ``overdue`` (the window closed), ``due`` (in the window),
        ``not_yet``; most urgent first. The same judgement as ``visits.rules.schedule_state``
        on the stored dates (``tests/visits/test_schedule.py`` holds the two together)."""
        if status == "overdue":
            qs = self.filter(next_cycle_window_end_date__lt=today)
        elif status == "due":
            qs = self.filter(next_cycle_window_start_date__lte=today, next_cycle_window_end_date__gte=today)
        elif status == "not_yet":
            qs = self.filter(next_cycle_window_start_date__gt=today)
        else:
            raise ValueError(f"Unknown schedule status {status!r}.")
        return qs.order_by("next_cycle_window_end_date", "subject_id")

    def for_signature(self):
        """What ``signature_payload`` reads, prefetched: a constant number of queries
        for any number of casebooks (the signature check, ``core.review``)."""
        return self.select_related("diagnosis").prefetch_related(
            "malignancies", "adverse_events", "assessments", "cycles__assessment", "cycles__infusions")


class Patient(Lockable, ClinicalRecord):
    """A study subject. The subject id is the only identifier in exports."""

    subject_id = models.CharField(
        _("subject id"), max_length=6, unique=True, validators=[subject_id_validator],
        help_text=_("Site code, hyphen, three digits: 01-001."),
    )
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="patients", verbose_name=_("site"))
    sex = models.CharField(_("sex"), max_length=1, choices=Sex.choices)
    birth_year = models.PositiveSmallIntegerField(
        _("year of birth"), validators=[MinValueValidator(1900)],
    )
    birth_date = models.DateField(
        _("date of birth"), null=True, blank=True,
        help_text=_("Optional; never exported. Without it, age is derived from the year."),
    )
    race = models.CharField(_("race"), max_length=41, choices=Race.choices, default=Race.NOT_REPORTED)
    consent_date = models.DateField(_("date of informed consent"))
    enrolment_date = models.DateField(_("enrolment date"))
    symptom_onset_date = models.DateField(
        _("myopathy symptom onset"), help_text=_("First symptom of the myopathy (month precision is enough)."),
    )
    active_myopathy = models.BooleanField(
        _("active, recent inflammatory myopathy"), default=False,
        help_text=_("Eligibility: the myopathy is clinically active."),
    )
    ctd_associated = models.BooleanField(
        _("connective-tissue-disease-associated myositis"), default=False,
        help_text=_("Exclusion criterion (overlap with lupus, scleroderma, etc.)."),
    )
    steroid_contraindication = models.BooleanField(_("contraindication to corticosteroids"), default=False)
    renal_risk = models.BooleanField(
        _("renal risk"), default=False,
        help_text=_("Pre-infusion screen: impaired renal function. Lowers the IVIG rate limit "
                  "(visits/rules.py) for the cycles from its date on."))
    renal_risk_since = models.DateField(
        _("renal risk known since"), null=True, blank=True,
        help_text=_("Required with the renal risk: cycles starting on or after this date are "
                  "judged with the lower rate limit."))
    thrombotic_risk = models.BooleanField(
        _("thrombotic risk"), default=False,
        help_text=_("Age > 65, diabetes, immobility, prior thrombosis or oestrogens. Lowers the IVIG "
                  "rate limit (visits/rules.py) for the cycles from its date on."))
    thrombotic_risk_since = models.DateField(
        _("thrombotic risk known since"), null=True, blank=True,
        help_text=_("Required with the thrombotic risk: cycles starting on or after this date are "
                  "judged with the lower rate limit."))
    suspected_cause = models.CharField(_("suspected cause"), max_length=10, choices=SuspectedCause.choices,
                                       default=SuspectedCause.NONE)
    suspected_cause_detail = models.CharField(
        _("suspected cause, detail"), max_length=200, blank=True,
        help_text=_("E.g. acute coxsackie B infection; the suspected drug."),
    )
    status = models.CharField(_("status"), max_length=10, choices=PatientStatus.choices,
                              default=PatientStatus.SCREENING)
    withdrawal_date = models.DateField(_("withdrawal date"), null=True, blank=True)
    withdrawal_reason = models.TextField(_("withdrawal reason"), blank=True)

    # Derived facts (patients.rules.patient_facts), stored by patients.services.
    age_at_enrolment = models.PositiveSmallIntegerField(
        _("age at enrolment"), null=True, editable=False, help_text=_("Derived: whole years at enrolment."))
    age_at_onset = models.PositiveSmallIntegerField(
        _("age at first symptom"), null=True, editable=False, help_text=_("Derived: whole years at symptom onset."))
    disease_duration_at_enrolment_months = models.DecimalField(
        _("disease duration at enrolment (months)"), max_digits=5, decimal_places=1, null=True, editable=False,
        help_text=_("Derived: symptom onset to enrolment."))
    disease_duration_months = models.DecimalField(
        _("disease duration before IVIG (months)"), max_digits=5, decimal_places=1, null=True, editable=False,
        help_text=_("Derived: symptom onset to the first infusion; empty before any infusion."))
    first_infusion_date = models.DateField(_("first IVIG infusion"), null=True, editable=False)
    last_infusion_date = models.DateField(_("last IVIG infusion"), null=True, editable=False)
    end_of_treatment_date = models.DateField(
        _("end-of-treatment visit"), null=True, editable=False,
        help_text=_("Derived: the date of the end-of-treatment visit; empty while there is none."))
    rules_version = models.CharField(_("rules version"), max_length=20, blank=True, db_default="",
                                     editable=False, help_text=_("The version of patients.rules that derived the facts."))

    # The next cycle's schedule (visits.rules.next_cycle), stored by the visits services
    # after every cycle or patient write (patients imports nothing from visits).
    next_cycle_planned_date = models.DateField(
        _("next cycle planned"), null=True, blank=True, editable=False,
        help_text=_("Derived: the previous cycle's day 1 + the cycle interval (the enrolment date for cycle 1); "
                  "empty when not on study."))
    next_cycle_window_start_date = models.DateField(
        _("next cycle window opens"), null=True, blank=True, editable=False)
    next_cycle_window_end_date = models.DateField(
        _("next cycle window closes"), null=True, blank=True, editable=False,
        help_text=_("Derived: the last day of the next cycle's window; after it the cycle is overdue."))
    schedule_rules_version = models.CharField(
        _("schedule rules version"), max_length=20, blank=True, db_default="", editable=False,
        help_text=_("The version of visits.rules that derived the next cycle's schedule."))

    history = HistoricalRecords()
    objects = PatientQuerySet.as_manager()
    SIGNATURE_EXCLUDE = ClinicalRecord.SIGNATURE_EXCLUDE + PATIENT_FACTS + SCHEDULE_FACTS + (
        "rules_version", "schedule_rules_version")
    # The schedule moves with every cycle: the page shows it, the change log does not list it.
    CHANGE_LOG_EXCLUDE = ClinicalRecord.CHANGE_LOG_EXCLUDE + SCHEDULE_FACTS + ("schedule_rules_version",)

    class Meta:
        ordering = ["subject_id"]
        verbose_name = _("patient")
        verbose_name_plural = _("patients")
        constraints = [
            models.CheckConstraint(condition=Q(consent_date__lte=models.F("enrolment_date")),
                                   name="patient_consent_not_after_enrolment"),
            models.CheckConstraint(condition=Q(symptom_onset_date__lte=models.F("enrolment_date")),
                                   name="patient_onset_not_after_enrolment"),
            models.CheckConstraint(
                condition=~Q(status="withdrawn") | (Q(withdrawal_date__isnull=False) & ~Q(withdrawal_reason="")),
                name="patient_withdrawn_has_reason",
            ),
        ]
        indexes = [
            models.Index(fields=["site", "status"]),
            # The patient list: one site's patients in subject-id order (without it PostgreSQL
            # walks the subject-id index and filters out the other sites' rows).
            models.Index(fields=["site", "subject_id"], name="patient_site_subject_idx"),
        ]

    def __str__(self):
        return self.subject_id

    def get_absolute_url(self):
        return reverse("patients:patient_detail", args=[self.pk])

    FIXED_FIELDS = ("site",)  # the subject id carries the site's code

    def signature_payload(self, cycles=None):
        """The casebook: the patient, diagnosis, malignancies, every cycle and the
        adverse events (reached through their reverse relations; the prefetched
        ones when loaded with ``for_signature()``). ``cycles``: the payloads of the
        cycles, when the caller already has them."""
        try:
            diagnosis = record_payload(self.diagnosis)
        except Diagnosis.DoesNotExist:
            diagnosis = None

        def by_pk(related):
            return sorted(related.all(), key=lambda r: r.pk)

        if cycles is None:
            cycles = [c.signature_payload() for c in sorted(self.cycles.all(), key=lambda c: c.number)]
        return {
            "patient": record_payload(self),
            "diagnosis": diagnosis,
            "malignancies": [record_payload(m) for m in by_pk(self.malignancies)],
            "cycles": cycles,
            "end_of_treatment": [record_payload(a) for a in by_pk(self.assessments) if a.cycle_id is None],
            "adverse_events": [record_payload(e) for e in by_pk(self.adverse_events)],
        }

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        instance._loaded_status = instance.__dict__.get("status")
        return instance

    def save(self, *args, **kwargs):
        from .services import patient_derive  # the one place the facts are derived and stored

        patient_derive(self)
        super().save(*args, **kwargs)
        self._loaded_status = self.status  # the stored status, for the next transition check

    def clean(self):
        violations = rules.patient_violations(
            today=timezone.localdate(),
            birth_year=self.birth_year,
            birth_date=self.birth_date,
            consent_date=self.consent_date,
            enrolment_date=self.enrolment_date,
            symptom_onset_date=self.symptom_onset_date,
            active_myopathy=self.active_myopathy,
            ctd_associated=self.ctd_associated,
            status=self.status,
            previous_status=getattr(self, "_loaded_status", None),
            withdrawal_date=self.withdrawal_date,
            withdrawal_reason=self.withdrawal_reason,
        )
        violations += rules.risk_date_violations(
            today=timezone.localdate(), renal_risk=self.renal_risk, renal_risk_since=self.renal_risk_since,
            thrombotic_risk=self.thrombotic_risk, thrombotic_risk_since=self.thrombotic_risk_since)
        if self.subject_id and self.site_id and not any(v.field == "subject_id" for v in violations):
            site_code = Site.objects.filter(pk=self.site_id).values_list("code", flat=True).first()
            if site_code and not self.subject_id.startswith(f"{site_code}-"):
                violations.append(rules.Violation(
                    "subject_id", "site_prefix",
                    _("A subject id at site %(site)s starts with %(site)s- (e.g. %(site)s-001).") % {"site": site_code},
                ))
        raise_violations(violations)

    # Derived values --------------------------------------------------------
    @property
    def infusion_risk(self):
        """Renal or thrombotic risk: the lower IVIG rate limit applies."""
        return self.renal_risk or self.thrombotic_risk

    @property
    def disease_duration_before_ivig_months(self):
        return self.disease_duration_months  # (the stored fact; the page's name for it)

    def withdraw(self, *, on, reason):
        """Guarded status change: only a screening or on-study patient can be withdrawn."""
        if self.status == PatientStatus.WITHDRAWN or not rules.status_change_allowed(
                self.status, rules.PatientStatus.WITHDRAWN):
            raise StatusChangeError(
                _("A %(status)s patient cannot be withdrawn.") % {"status": self.get_status_display().lower()})
        self.status = PatientStatus.WITHDRAWN
        self.withdrawal_date = on
        self.withdrawal_reason = reason


class Diagnosis(MissingCodesRecord, ClinicalRecord):
    """PM or DM with the Bohan & Peter criteria and the 2017 EULAR/ACR variables.

    The rash (criterion 5), the certainty, the EULAR/ACR score and class are
    derived by ``patients.rules.diagnosis_facts`` and stored by the services.
    """

    patient = models.OneToOneField(Patient, on_delete=models.PROTECT, related_name="diagnosis",
                                   verbose_name=_("patient"))
    kind = models.CharField(_("diagnosis"), max_length=2, choices=Myopathy.choices)
    diagnosis_date = models.DateField(_("diagnosis date"))

    # Bohan & Peter criteria 1-4 (criterion 5, the rash, comes from the signs below).
    bp_weakness = models.BooleanField(
        _("1. symmetric proximal limb-girdle and anterior neck flexor weakness"), default=False)
    bp_biopsy = models.BooleanField(_("2. muscle biopsy evidence of myositis"), default=False)
    bp_enzymes = models.BooleanField(
        _("3. raised skeletal-muscle enzymes (CK, LDH, AST or ALT above the upper limit)"), default=False)
    bp_emg = models.BooleanField(_("4. myopathic EMG"), default=False)

    # 2017 EULAR/ACR clinical variables.
    upper_limb_weakness = models.BooleanField(_("objective symmetric proximal upper-limb weakness"), default=False)
    lower_limb_weakness = models.BooleanField(_("objective symmetric proximal lower-limb weakness"), default=False)
    neck_flexors_weaker = models.BooleanField(_("neck flexors weaker than neck extensors"), default=False)
    legs_proximal_weaker = models.BooleanField(_("in the legs, proximal weaker than distal"), default=False)
    heliotrope_rash = models.BooleanField(_("heliotrope rash"), default=False)
    gottron_papules = models.BooleanField(_("Gottron's papules"), default=False)
    gottron_sign = models.BooleanField(_("Gottron's sign"), default=False)
    dysphagia = models.BooleanField(_("dysphagia or oesophageal dysmotility"), default=False)
    anti_jo1 = models.BooleanField(_("anti-Jo-1 antibody present"), default=False)

    # Muscle biopsy.
    biopsy_performed = models.BooleanField(_("muscle biopsy performed"), default=False)
    biopsy_endomysial_infiltrate = models.BooleanField(
        _("endomysial mononuclear infiltrate surrounding, not invading, fibres"), default=False)
    biopsy_perimysial_infiltrate = models.BooleanField(_("perimysial and/or perivascular infiltrate"), default=False)
    biopsy_perifascicular_atrophy = models.BooleanField(_("perifascicular atrophy"), default=False)
    biopsy_rimmed_vacuoles = models.BooleanField(_("rimmed vacuoles"), default=False)

    # Derived facts (patients.rules.diagnosis_facts), stored by patients.services.
    rash = models.BooleanField(_("typical DM rash (criterion 5)"), null=True, editable=False)
    certainty = models.CharField(_("Bohan & Peter certainty"), max_length=10, choices=Certainty.choices,
                                 blank=True, db_default="", editable=False)
    eular_acr_score = models.DecimalField(_("2017 EULAR/ACR score"), max_digits=4, decimal_places=1,
                                          null=True, editable=False)
    eular_acr_class = models.CharField(_("2017 EULAR/ACR class"), max_length=12, choices=IIMClass.choices,
                                       blank=True, db_default="", editable=False)
    rules_version = models.CharField(_("rules version"), max_length=20, blank=True, db_default="", editable=False)

    history = HistoricalRecords()
    CHANGE_LOG_EXCLUDE = ClinicalRecord.CHANGE_LOG_EXCLUDE + ("patient",)
    SIGNATURE_EXCLUDE = ClinicalRecord.SIGNATURE_EXCLUDE + DIAGNOSIS_FACTS + ("rules_version",)
    PARENT_FIELDS = ("patient",)
    #: A criterion not assessed carries a code (core.missing); its box stays unticked, so
    #: the certainty and the score count it as not met.
    MISSING_ALLOWED = tuple(rules.DIAGNOSIS_CRITERIA)

    class Meta:
        verbose_name = _("diagnosis")
        verbose_name_plural = _("diagnoses")

    def __str__(self):
        return f"{self.patient_id and self.patient.subject_id}: {self.kind}"

    def review_parents(self):
        return [self.patient] if self.patient_id else []

    def save(self, *args, **kwargs):
        from .services import diagnosis_derive  # the one place the facts are derived and stored

        diagnosis_derive(self)
        super().save(*args, **kwargs)

    def clean(self):
        if not self.kind:
            return  # the required-field error says it
        symptom_onset = self.patient.symptom_onset_date if self.patient_id else None
        facts = rules.diagnosis_facts(kind=self.kind, age_at_onset=None,
                                      criteria={n: getattr(self, n) for n in rules.DIAGNOSIS_CRITERIA})
        raise_violations(rules.diagnosis_violations(
            today=timezone.localdate(),
            kind=self.kind,
            certainty=facts["certainty"],
            rash=facts["rash"],
            biopsy_performed=self.biopsy_performed,
            biopsy_myositis=self.bp_biopsy,
            biopsy_findings=[n for n in rules.EULAR_ACR_BIOPSY_VARIABLES if getattr(self, n)],
            diagnosis_date=self.diagnosis_date,
            symptom_onset_date=symptom_onset,
        ))


class MalignancyStatus(models.TextChoices):
    REMISSION = "remission", _("Remission")
    ACTIVE = "active", _("Active")
    RELAPSE = "relapse", _("Relapse")


class MalignancyCertainty(models.TextChoices):
    CONFIRMED = "confirmed", _("Confirmed")
    PROBABLE = "probable", _("Probable")


class MalignancyHistoryQuerySet(models.QuerySet):
    def current(self):
        return self.filter(voided_at__isnull=True)


class MalignancyHistory(ClinicalRecord):
    """A malignancy in the patient's history; voided (with a reason), never deleted."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="malignancies",
                                verbose_name=_("patient"))
    malignancy_type = models.CharField(
        _("type / site"), max_length=200, help_text=_("E.g. non-Hodgkin lymphoma, breast carcinoma."))
    diagnosis_date = models.DateField(_("diagnosis date"))
    status = models.CharField(_("status"), max_length=10, choices=MalignancyStatus.choices)
    certainty = models.CharField(_("certainty"), max_length=10, choices=MalignancyCertainty.choices,
                                 default=MalignancyCertainty.CONFIRMED)
    notes = models.TextField(_("notes"), blank=True)
    voided_at = models.DateTimeField(_("voided at"), null=True, blank=True, editable=False)
    void_reason = models.TextField(_("void reason"), blank=True, editable=False)

    # Derived (patients.rules.malignancy_timing), stored by patients.services.
    timing = models.CharField(
        _("timing"), max_length=6, choices=MalignancyTiming.choices, blank=True, db_default="", editable=False,
        help_text=_("Derived: diagnosed before the first infusion, during treatment (to the "
                  "end-of-treatment visit, else the last infusion) or after."))
    rules_version = models.CharField(_("rules version"), max_length=20, blank=True, db_default="", editable=False)

    history = HistoricalRecords()
    objects = MalignancyHistoryQuerySet.as_manager()
    CHANGE_LOG_EXCLUDE = ClinicalRecord.CHANGE_LOG_EXCLUDE + ("patient",)
    SIGNATURE_EXCLUDE = ClinicalRecord.SIGNATURE_EXCLUDE + MALIGNANCY_FACTS + ("rules_version",)
    PARENT_FIELDS = ("patient",)

    class Meta:
        ordering = ["diagnosis_date", "pk"]
        verbose_name = _("malignancy history")
        verbose_name_plural = _("malignancy histories")

    def __str__(self):
        return f"{self.malignancy_type} ({self.diagnosis_date})"

    @property
    def is_voided(self):
        return self.voided_at is not None

    def save(self, *args, **kwargs):
        from .services import malignancy_derive  # the one place the timing is derived and stored

        malignancy_derive(self)
        super().save(*args, **kwargs)

    def clean(self):
        birth_year = self.patient.birth_year if self.patient_id else None
        raise_violations(rules.malignancy_violations(
            today=timezone.localdate(), diagnosis_date=self.diagnosis_date, birth_year=birth_year))
