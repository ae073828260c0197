"""Serializers of the API: shapes only, never rules.

A serializer checks the JSON types (a date is a date, a decimal fits its
column); everything clinical is the model's ``full_clean()`` (``clean()``
calls the rules in ``rules.py``; the lock check runs first). ``validate()``
builds the instance, runs ``full_clean()`` and turns its
``ValidationError`` into field errors with the same messages and codes the
forms show. Writes go through ``core.services.record_save`` (history row,
user, reason for change, version check) or, for cycles and infusions,
``visits.services.cycle_save`` (which also keeps the deviation log current).
"""

import math
import re
from collections.abc import Mapping

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail
from rest_framework.validators import UniqueValidator

from accounts.models import Site
from accounts.scoping import scope_to_user_sites, sites_for_data_entry
from core.services import record_save
from patients import rules as patient_rules
from patients import services as patient_services
from patients.models import Diagnosis, MalignancyHistory, Patient, PatientStatus
from review.models import DataQuery, DataQueryMessage
from coding.selectors import term_by_llt_code
from medications.models import MEDICATION_FACTS, ConcomitantMedication
from medications.services import medication_save
from safety.models import AdverseEvent
from safety.rules import CODED_FIELDS
from safety.services import adverse_event_save
from visits.models import (Assessment, AssessmentTimepoint, Infusion, MissedCycle, ProtocolDeviation,
                           TreatmentCycle)
from visits import services as visit_services
from visits.services import CycleParts, CyclePartError, CyclePartsInvalid, cycle_parts_build, cycle_save

from .exceptions import django_error_detail

#: Versions are compared, never stored from input; keep them inside a 32-bit column.
MAX_VERSION = 2**31 - 1

REASON_REQUIRED = ErrorDetail("Give a reason for changing a saved record.", code="reason_required")


def request_user(serializer):
    request = serializer.context.get("request")
    return getattr(request, "user", None)


def merge_errors(errors, more):
    for field, messages in more.items():
        errors.setdefault(field, []).extend(messages)
    return errors


def clean_errors(instance, prefix="", exclude=None):
    """``instance.full_clean()``'s errors as ``{field: [ErrorDetail]}`` ({} when valid)."""
    try:
        instance.full_clean(exclude=exclude)
    except DjangoValidationError as exc:
        return django_error_detail(exc, prefix)
    return {}


# --- Strict JSON types ------------------------------------------------------------
# DRF coerces: 0 becomes "0" for a text field, "12" becomes 12, "true" True. The
# API takes the JSON types its schema documents and refuses the others (a 400),
# so a client bug shows at once instead of being stored as a guess. Decimals
# are JSON strings ("70.5"), as in the responses: no binary rounding.

def _strict(field_class, types, message_key="invalid"):
    class Strict(field_class):
        def to_internal_value(self, data):
            if (isinstance(data, bool) and bool not in types) or not isinstance(data, types):
                self.fail(message_key, input=data, data_type=type(data).__name__)
            return super().to_internal_value(data)

    Strict.__name__ = Strict.__qualname__ = f"Strict{field_class.__name__}"
    return Strict


StrictCharField = _strict(serializers.CharField, (str,))
StrictIntegerField = _strict(serializers.IntegerField, (int,))
StrictBooleanField = _strict(serializers.BooleanField, (bool,))
StrictPrimaryKeyRelatedField = _strict(serializers.PrimaryKeyRelatedField, (int,), "incorrect_type")


class StrictDecimalField(serializers.DecimalField):
    """A decimal as a JSON string (``"72.5"``, as in the responses) or a JSON
    number (``72.5``, ``72``, ``1e2``). A float is read through its shortest
    representation (``str(72.5)`` is ``"72.5"``), so 72.5 is ``Decimal("72.5")``,
    not the binary ``72.5000000000000000001...``; NaN, infinities and booleans are
    refused. ``max_digits`` and ``decimal_places`` are checked as for a string."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, (str, int, float)):
            self.fail("invalid")
        if isinstance(data, float):
            if not math.isfinite(data):
                self.fail("invalid")
            data = repr(data)
        elif isinstance(data, int):
            if abs(data) >= 10 ** (self.max_digits or 1000):  # never str() a huge integer
                self.fail("max_digits", max_digits=self.max_digits)
            data = str(data)
        return super().to_internal_value(data)


#: A clinic's wall-clock time: "HH:MM", "HH:MM:SS" or with microseconds, no zone.
LOCAL_TIME_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?$"


@extend_schema_field({"type": "string", "pattern": LOCAL_TIME_PATTERN, "example": "13:05"})
class LocalTimeField(serializers.TimeField):
    """An infusion's start or end time: the wall-clock time at the site, as the
    forms take it. A zone offset ("13:05:12-06:33") is refused rather than
    silently dropped, and the schema documents a pattern, not OpenAPI's
    ``format: time`` (RFC 3339 full-time, which requires an offset)."""

    default_error_messages = {
        "invalid": "Time has wrong format. Use HH:MM or HH:MM:SS, the site's local time, without a zone.",
    }

    def to_internal_value(self, value):
        if not isinstance(value, str) or not re.match(LOCAL_TIME_PATTERN, value):
            self.fail("invalid", format="HH:MM[:SS]")
        return super().to_internal_value(value)


class StrictChoiceField(serializers.ChoiceField):
    """A choice of the JSON type of its values: 1, not "1", for an infusion day."""

    def to_internal_value(self, data):
        types = {type(value) for value in self.choices}
        if (isinstance(data, bool) and bool not in types) or type(data) not in types:
            self.fail("invalid_choice", input=data)
        return super().to_internal_value(data)


SITE_CODE_PATTERN = r"^[0-9]{2}$"


@extend_schema_field({"oneOf": [
    {"type": "string", "pattern": SITE_CODE_PATTERN, "example": "01",
     "description": "The site's code (two digits, as in the subject ids)."},
    {"type": "integer", "minimum": 1, "maximum": 2**31 - 1, "description": "The site's id."},
], "description": "The site: a JSON string is its code (\"01\"), a JSON integer its id (1); one of "
                  "the sites where you may enrol patients. Responses give the id (and `site_code`)."})
class SiteField(serializers.PrimaryKeyRelatedField):
    """A site named by its code (a JSON string, ``"01"``) or by its id (a JSON
    integer, ``1``): the JSON type decides, so code "01" and id 1 are never
    confused. A code or id that is not one of the user's sites (no such site,
    or another site) is the same field error: it does not tell which."""

    default_error_messages = {
        "does_not_exist": 'No site "{value}" among the sites where you may enrol patients '
                          '(a code is two digits, e.g. "01").',
        "incorrect_type": "Give the site's code as a string (\"01\") or its id as an integer.",
    }

    def to_internal_value(self, data):
        if isinstance(data, str):
            if not re.fullmatch(SITE_CODE_PATTERN, data):
                self.fail("does_not_exist", value=data[:20])
            lookup = {"code": data}
        elif isinstance(data, int) and not isinstance(data, bool):
            if not 1 <= data <= 2**31 - 1:
                self.fail("does_not_exist", value=str(data)[:20])
            lookup = {"pk": data}
        else:
            self.fail("incorrect_type", data_type=type(data).__name__)
        site = self.get_queryset().filter(**lookup).first()
        if site is None:
            self.fail("does_not_exist", value=data)
        return site


class EnumValueField(serializers.ChoiceField):
    """A value derived by a rule that returns an ``Enum``; shown as its value."""

    def __init__(self, enum, **kwargs):
        kwargs.setdefault("read_only", True)
        super().__init__(choices=[member.value for member in enum], **kwargs)

    def to_representation(self, value):
        return getattr(value, "value", value)


# --- Unknown and read-only input --------------------------------------------------
# DRF ignores a key it does not know and a read-only field it is sent: a typo
# ("ck_u_per_L") or a value the client believes it set (a derived MMT-8 total)
# would be a 201 with nothing stored. Here both are field errors naming the key,
# at every level (a cycle's assessment and infusions: dotted paths), and nothing
# is written. One exception keeps a read-modify-write round trip working: an
# update may send a read-only field back *unchanged* (its value as the record
# shows it now); a different value is refused.

UNKNOWN_FIELD = "Unknown field."
READ_ONLY_FIELD = "Read-only: set by the system, not by the client."
READ_ONLY_DERIVED = "Read-only: derived by the rules from what is entered."


class RefuseUnknownFields:
    """Mixed into every input serializer of the API (``ModelShapeSerializer``,
    ``ActionSerializer``). ``read_only_messages``: {field: why it is read-only}."""

    read_only_messages = {}

    def to_internal_value(self, data):
        errors = {}
        if isinstance(data, Mapping):
            fields = self.fields
            for key in data:
                field = fields.get(key) if isinstance(key, str) else None
                if field is None:
                    errors[str(key)] = [ErrorDetail(UNKNOWN_FIELD, code="unknown_field")]
                elif field.read_only and not self._unchanged(field, data[key]):
                    errors[key] = [ErrorDetail(self._read_only_message(key, field), code="read_only")]
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if not errors or not isinstance(exc.detail, Mapping):
                raise
            raise serializers.ValidationError({**exc.detail, **errors}) from exc
        if errors:
            raise serializers.ValidationError(errors)
        return value

    def _read_only_message(self, name, field):
        if name in self.read_only_messages:
            return self.read_only_messages[name]
        if str(field.help_text or "").startswith("Derived"):
            return READ_ONLY_DERIVED
        return READ_ONLY_FIELD

    def _unchanged(self, field, value):
        """An update's read-only value equal to what the record shows (a GET sent back)."""
        instance = getattr(self, "instance", None) if self.parent is None else None
        if instance is None or getattr(self, "many", False):
            return False
        try:
            return field.to_representation(field.get_attribute(instance)) == value
        except Exception:  # noqa: BLE001 -- a value the field cannot show is not the shown one
            return False


class ActionSerializer(RefuseUnknownFields, serializers.Serializer):
    """The body of an action (withdraw, void, a data query's raise / answer /
    close / re-open): its declared fields only."""


class ModelShapeSerializer(RefuseUnknownFields, serializers.ModelSerializer):
    """A ModelSerializer with strict JSON types, unknown and read-only input
    refused (``RefuseUnknownFields``), and without DRF's own unique validators:
    uniqueness is checked by ``full_clean()``, with the model's messages, like
    the forms."""

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.CharField: StrictCharField,
        models.TextField: StrictCharField,
        models.IntegerField: StrictIntegerField,
        models.SmallIntegerField: StrictIntegerField,
        models.BigIntegerField: StrictIntegerField,
        models.PositiveIntegerField: StrictIntegerField,
        models.PositiveSmallIntegerField: StrictIntegerField,
        models.PositiveBigIntegerField: StrictIntegerField,
        models.BooleanField: StrictBooleanField,
        models.DecimalField: StrictDecimalField,
        models.TimeField: LocalTimeField,
    }
    serializer_related_field = StrictPrimaryKeyRelatedField
    serializer_choice_field = StrictChoiceField

    def get_validators(self):
        return []

    def build_field(self, field_name, info, model_class, nested_depth):
        field_class, kwargs = super().build_field(field_name, info, model_class, nested_depth)
        if "validators" in kwargs:
            kwargs["validators"] = [v for v in kwargs["validators"] if not isinstance(v, UniqueValidator)]
        return field_class, kwargs


class RecordSerializer(ModelShapeSerializer):
    """A clinical record (`core.models.ClinicalRecord`) read and written with
    the model's rules and `record_save`.

    `create_only`: fields given on create (the patient, the cycle...) that an
    update may repeat but not change.
    """

    version = StrictIntegerField(
        min_value=1, max_value=MAX_VERSION, required=False,
        help_text=_("Optimistic-concurrency counter, raised by every save. An update (and a void "
                  "or a withdrawal) sends the version it started from, here or as If-Match: "
                  "\"<version>\"; a stale version is refused (409 here, 412 with If-Match) and "
                  "changes nothing; no version at all is a 428. Ignored on create."))
    change_reason = StrictCharField(
        write_only=True, required=False, allow_blank=True, max_length=500,
        help_text=_("Reason for change, kept on the history row. Required on update (or the "
                  "X-Change-Reason header); not used on create."))

    create_only = ()

    # --- validation ----------------------------------------------------------
    def validate(self, attrs):
        attrs = dict(attrs)
        attrs.pop("version", None)
        reason = (attrs.pop("change_reason", "") or "").strip() or self.context.get("header_reason", "")
        errors = {}
        if self.instance is not None:
            for name in self.create_only:
                if name in attrs and self._differs(self.instance, name, attrs[name]):
                    errors[name] = [ErrorDetail("Set when the record is created; it cannot be changed.",
                                                code="immutable")]
                attrs.pop(name, None)
        instance = self.instance if self.instance is not None else self.Meta.model()
        model_fields = {f.name for f in instance._meta.concrete_fields}
        self.changed = [name for name, value in attrs.items()
                        if name in model_fields and self._differs(instance, name, value)]
        if self.instance is not None and self.changed and not reason:
            errors["change_reason"] = [REASON_REQUIRED]
        elif len(reason) > 500:  # from X-Change-Reason, which the field did not check
            errors["change_reason"] = [ErrorDetail("Ensure this field has no more than 500 characters.",
                                                   code="max_length")]
        for name, value in attrs.items():
            if name in model_fields:
                setattr(instance, name, value)
        self.prepare(instance, attrs, errors)
        if self.instance is None or self.changed:
            merge_errors(errors, self.clean_record(instance, attrs))
        if errors:
            raise serializers.ValidationError(errors)
        self.reason = reason
        self.record = instance
        return attrs

    @staticmethod
    def _differs(instance, name, value):
        field = instance._meta.get_field(name)
        if field.is_relation:
            return getattr(instance, field.attname) != (value.pk if value is not None else None)
        return getattr(instance, name) != value

    def prepare(self, instance, attrs, errors):
        """Set what the input does not carry (derived links) before the rules run."""

    def clean_record(self, instance, attrs):
        return clean_errors(instance)

    # --- writes --------------------------------------------------------------
    def create(self, validated_data):
        return self.persist(self.record, reason="", expected_version=None, user=validated_data.get("user"))

    def update(self, instance, validated_data):
        if not self.changed:  # nothing to write: no version bump, no empty history row
            return instance
        return self.persist(self.record, reason=self.reason, expected_version=validated_data["expected_version"],
                            user=validated_data.get("user"))

    def persist(self, instance, *, reason, expected_version, user):
        return record_save(instance=instance, reason=reason, expected_version=expected_version, user=user)

    # --- related fields scoped to the user's sites -----------------------------
    def scoped(self, queryset, site_field):
        return scope_to_user_sites(queryset, request_user(self), site_field=site_field)


BOOKKEEPING = ("id", "version", "created_at", "updated_at", "change_reason")
READ_ONLY_BOOKKEEPING = ("id", "created_at", "updated_at")


# --- Patients ------------------------------------------------------------------

class PatientSerializer(RecordSerializer):
    """A study subject. Eligibility is checked on save (adult at consent, active
    myopathy with a recent onset, no connective-tissue-disease-associated
    myositis); `subject_id` starts with the site's code. Withdrawal has its own
    action (`POST /patients/{id}/withdraw/`)."""

    site = SiteField(queryset=Site.objects.none())
    site_code = serializers.CharField(source="site.code", read_only=True)
    site_country = serializers.CharField(
        source="site.country", read_only=True,
        help_text=_("The site's country, ISO 3166-1 alpha-3 (e.g. FRA); set by an administrator."))
    age_at_enrolment = serializers.IntegerField(read_only=True, help_text=_("Derived: whole years at enrolment."))
    disease_duration_at_enrolment_months = serializers.DecimalField(
        max_digits=5, decimal_places=1, read_only=True,
        help_text=_("Derived: symptom onset to enrolment, in months."))

    class Meta:
        model = Patient
        fields = [
            *BOOKKEEPING, "subject_id", "site", "site_code", "site_country", "sex", "birth_year", "birth_date", "race",
            "consent_date", "enrolment_date", "symptom_onset_date", "active_myopathy", "ctd_associated",
            "steroid_contraindication", "renal_risk", "renal_risk_since", "thrombotic_risk",
            "thrombotic_risk_since", "suspected_cause",
            "suspected_cause_detail", "status", "withdrawal_date", "withdrawal_reason", "locked_at",
            "age_at_enrolment", "disease_duration_at_enrolment_months",
        ]
        read_only_fields = [*READ_ONLY_BOOKKEEPING, "withdrawal_date", "withdrawal_reason", "locked_at"]
        # A calendar year (the rules build dates from it); the rules judge the rest.
        extra_kwargs = {"birth_year": {"max_value": 9999}}

    def get_fields(self):
        fields = super().get_fields()
        fields["site"].queryset = sites_for_data_entry(request_user(self))
        return fields

    def persist(self, instance, *, reason, expected_version, user):
        # patients.services: a correction re-derives the diagnosis and malignancies too
        return patient_services.patient_save(patient=instance, reason=reason, expected_version=expected_version,
                                             user=user)

    def validate_status(self, value):
        current = self.instance.status if self.instance is not None else None
        if value == PatientStatus.WITHDRAWN and current != PatientStatus.WITHDRAWN:
            raise serializers.ValidationError(
                _("Withdraw a patient with POST /api/v1/patients/{id}/withdraw/ (date and reason)."),
                code="use_withdraw")
        return value


class WithdrawSerializer(ActionSerializer):
    """Withdraw a patient: the date and the reason (kept in the audit trail)."""

    withdrawal_date = serializers.DateField()
    withdrawal_reason = StrictCharField(max_length=1000, allow_blank=True)
    version = StrictIntegerField(min_value=1, max_value=MAX_VERSION, required=False,
                                 help_text=_("The version you started from (or If-Match)."))


class VoidSerializer(ActionSerializer):
    """Void an entry made in error: it stays, marked void, with the reason."""

    void_reason = StrictCharField(max_length=1000, required=False, allow_blank=True,
                                  help_text=_("Why the entry is void (required by the rule)."))
    version = StrictIntegerField(min_value=1, max_value=MAX_VERSION, required=False,
                                 help_text=_("The version you started from (or If-Match)."))


class DiagnosisSerializer(RecordSerializer):
    """PM or DM with the Bohan & Peter criteria and the 2017 EULAR/ACR
    variables; certainty, score and class are derived. One per patient."""

    rash = serializers.BooleanField(read_only=True, help_text=_("Derived: Bohan & Peter criterion 5."))
    certainty = EnumValueField(patient_rules.Certainty, help_text=_("Derived: Bohan & Peter certainty."))
    eular_acr_score = serializers.DecimalField(max_digits=4, decimal_places=1, read_only=True,
                                               help_text=_("Derived: 2017 EULAR/ACR score."))
    eular_acr_class = EnumValueField(patient_rules.IIMClass, help_text=_("Derived: 2017 EULAR/ACR class."))

    create_only = ("patient",)

    class Meta:
        model = Diagnosis
        fields = [
            *BOOKKEEPING, "patient", "kind", "diagnosis_date",
            "bp_weakness", "bp_biopsy", "bp_enzymes", "bp_emg",
            "heliotrope_rash", "gottron_papules", "gottron_sign",
            "upper_limb_weakness", "lower_limb_weakness", "neck_flexors_weaker",
            "legs_proximal_weaker", "dysphagia", "anti_jo1",
            "biopsy_performed", "biopsy_endomysial_infiltrate", "biopsy_perimysial_infiltrate",
            "biopsy_perifascicular_atrophy", "biopsy_rimmed_vacuoles", "missing_codes",
            "rash", "certainty", "eular_acr_score", "eular_acr_class",
        ]
        read_only_fields = READ_ONLY_BOOKKEEPING

    def get_fields(self):
        fields = super().get_fields()
        fields["patient"].queryset = self.scoped(Patient.objects.all(), "site")
        return fields


class MalignancySerializer(RecordSerializer):
    """A malignancy in the patient's history; voided with a reason, never deleted."""

    timing = EnumValueField(patient_rules.MalignancyTiming,
                            help_text=_("Derived (stored): diagnosed before the first infusion, during the "
                                      "treatment (to the end-of-treatment visit, else the last infusion) "
                                      "or after."))

    create_only = ("patient",)

    class Meta:
        model = MalignancyHistory
        fields = [*BOOKKEEPING, "patient", "malignancy_type", "diagnosis_date", "status", "certainty",
                  "notes", "voided_at", "void_reason", "timing"]
        read_only_fields = [*READ_ONLY_BOOKKEEPING, "voided_at", "void_reason"]

    def get_fields(self):
        fields = super().get_fields()
        fields["patient"].queryset = self.scoped(Patient.objects.all(), "site")
        return fields


# --- Visits ----------------------------------------------------------------------

GRADE_FIELDS = list(Assessment.GRADE_FIELDS)
LAB_FIELDS = [
    "ck_u_per_l", "ck_lln_u_per_l", "ck_uln_u_per_l",
    "aldolase_u_per_l", "aldolase_uln_u_per_l", "ldh_u_per_l", "ldh_uln_u_per_l",
    "ast_u_per_l", "ast_uln_u_per_l", "alt_u_per_l", "alt_uln_u_per_l",
]
SCORE_FIELDS = ["physician_global", "patient_global", "extramuscular_global", "haq"]
ASSESSMENT_DATA = ["assessment_date", "mmt_scale", *GRADE_FIELDS, "mmt_total_reported", *LAB_FIELDS, *SCORE_FIELDS, "missing_codes"]
#: What an assessment says about its MMT-8 total (``visits.rules.mmt_total``): one rule, read everywhere.
MMT_TOTAL_READ_ONLY = {
    "mmt_total": "Read-only: derived from the eight grades. A total recorded without its grades goes in "
                 "mmt_total_reported.",
}


def mmt_total_fields():
    return {
        "mmt_total": serializers.IntegerField(
            read_only=True, allow_null=True,
            help_text=_("Derived: the sum of the eight grades when all eight are entered, else "
                        "`mmt_total_reported`; the total every report and export reads.")),
        "mmt_total_source": serializers.ChoiceField(
            choices=["grades", "reported"], read_only=True, allow_null=True,
            help_text=_("Derived: where `mmt_total` comes from: the grades, or the total reported alone "
                        "(null: no total).")),
    }
INFUSION_DATA = ["infusion_date", "start_time", "end_time", "product", "lot", "concentration_pct",
                 "volume_ml", "dose_g", "max_rate_ml_per_h", "missing_codes"]


class DeviationSummarySerializer(ModelShapeSerializer):
    class Meta:
        model = ProtocolDeviation
        fields = ["id", "kind", "day", "description", "detected_at"]
        read_only_fields = fields


class CycleAssessmentSerializer(ModelShapeSerializer):
    """The cycle's pre-treatment assessment, inside a cycle."""

    read_only_messages = MMT_TOTAL_READ_ONLY

    class Meta:
        model = Assessment
        fields = ["id", "version", *ASSESSMENT_DATA, "mmt_total", "mmt_total_source", "voided_at"]
        read_only_fields = ["id", "version", "mmt_total", "voided_at"]

    def get_fields(self):
        return {**super().get_fields(), **mmt_total_fields()}


class CycleInfusionSerializer(ModelShapeSerializer):
    """One infusion day, inside a cycle."""

    prescribed_dose_g = serializers.DecimalField(max_digits=6, decimal_places=1, read_only=True,
                                                 allow_null=True,
                                                 help_text=_("Derived: 1 g/kg of the cycle's dosing weight."))

    class Meta:
        model = Infusion
        fields = ["id", "version", "day", *INFUSION_DATA, "prescribed_dose_g"]
        read_only_fields = ["id", "version"]


class CycleSerializer(RecordSerializer):
    """A treatment cycle. On create it may carry its pre-treatment
    `assessment` and its `infusions` (day 1 and day 2): all are saved in one
    transaction by `visits.services.cycle_save`, as on the record-cycle page,
    and the response shows the deviations found. Afterwards correct them at
    `/assessments/{id}/` and `/infusions/{id}/`."""

    number = StrictIntegerField(min_value=1, max_value=32767, required=False,
                                help_text=_("Cycle number; on create defaults to the next one."))
    assessment = CycleAssessmentSerializer(required=False, allow_null=True,
                                           help_text=_("Pre-treatment assessment (create only)."))
    infusions = CycleInfusionSerializer(many=True, required=False, max_length=2,
                                        help_text=_("Day 1 and day 2 infusions (create only)."))
    dosing_weight_kg = serializers.DecimalField(max_digits=6, decimal_places=1, read_only=True, allow_null=True,
                                                help_text=_("Derived: actual or adjusted body weight."))
    prescribed_daily_dose_g = serializers.DecimalField(max_digits=6, decimal_places=1, read_only=True,
                                                       allow_null=True,
                                                       help_text=_("Derived: 1 g/kg of the dosing weight, per day."))
    prescribed_cycle_dose_g = serializers.DecimalField(max_digits=7, decimal_places=1, read_only=True,
                                                       allow_null=True, help_text=_("Derived: both days."))
    max_rate_ml_per_h = serializers.DecimalField(max_digits=7, decimal_places=1, read_only=True, allow_null=True,
                                                 help_text=_("Derived: the infusion rate limit."))
    open_deviations = serializers.SerializerMethodField(help_text=_("Open protocol deviations of the cycle."))

    create_only = ("patient", "number")

    class Meta:
        model = TreatmentCycle
        fields = [*BOOKKEEPING, "patient", "number", "start_date", "weight_kg", "height_cm", "dosing_basis",
                  "missing_codes", "status", "locked_at", "dosing_weight_kg", "prescribed_daily_dose_g",
                  "prescribed_cycle_dose_g", "max_rate_ml_per_h", "assessment", "infusions", "open_deviations"]
        read_only_fields = [*READ_ONLY_BOOKKEEPING, "status", "locked_at"]

    def get_fields(self):
        fields = super().get_fields()
        fields["patient"].queryset = self.scoped(Patient.objects.all(), "site")
        return fields

    @extend_schema_field(DeviationSummarySerializer(many=True))
    def get_open_deviations(self, cycle):
        rows = getattr(cycle, "open_deviation_list", None)
        if rows is None:
            rows = ProtocolDeviation.objects.filter(cycle=cycle).open().order_by("day", "kind")
        return DeviationSummarySerializer(rows, many=True, context=self.context).data

    def validate(self, attrs):
        if self.instance is not None:
            nested = {name: [ErrorDetail(
                f"Written with the cycle on create only: correct it at /api/v1/{name}/{{id}}/.",
                code="read_only_on_update")] for name in ("assessment", "infusions") if name in attrs}
            if nested:
                raise serializers.ValidationError(nested)
        return super().validate(attrs)

    CYCLE_DATA = ("start_date", "weight_kg", "height_cm", "dosing_basis", "missing_codes")

    def prepare(self, cycle, attrs, errors):
        self.indexes, self.infusions_data = {}, {}
        for index, data in enumerate(attrs.get("infusions") or []):
            day = data["day"]
            if day in self.infusions_data:
                errors[f"infusions.{index}.day"] = [ErrorDetail(f"Day {day} is given twice.", code="duplicate_day")]
                continue
            self.indexes[day] = index
            self.infusions_data[day] = {name: value for name, value in data.items() if name != "day"}

    def clean_record(self, cycle, attrs):
        """The cycle and its parts built and checked by ``visits.services.cycle_parts_build``, as
        on the record-cycle page; each part's errors under its own keys."""
        if not cycle.patient_id:
            return {}
        try:
            # Without a number the next one is checked now and taken again under the
            # patient's row lock when saving (``cycle_save``).
            self.parts = cycle_parts_build(
                patient=cycle.patient, cycle=cycle,
                cycle_data={name: getattr(cycle, name) for name in self.CYCLE_DATA},
                assessment_data=attrs.get("assessment") or None, infusions_data=self.infusions_data)
        except CyclePartsInvalid as exc:
            errors = {}
            for part, error in exc.errors.items():
                merge_errors(errors, django_error_detail(error, self.part_prefix(part)))
            return errors
        return {}

    def part_prefix(self, part):
        if part in ("cycle", "assessment"):
            return {"cycle": "", "assessment": "assessment."}[part]
        day = int(part[-1])  # day1 / day2: its position in the request (a stored day: day - 1)
        return f"infusions.{self.indexes.get(day, day - 1)}."

    def persist(self, cycle, *, reason, expected_version, user):
        if cycle.pk is not None:
            self.parts.expected_versions["cycle"] = expected_version
        try:
            cycle_save(parts=self.parts, reason=reason, user=user)
        except CyclePartError as exc:
            raise serializers.ValidationError(django_error_detail(exc.error, self.part_prefix(exc.part))) from exc
        return self.parts.cycle


class AssessmentSerializer(RecordSerializer):
    """Muscle power (MMT-8) and muscle enzymes: before a cycle (give `cycle`) or
    at the end of treatment (no cycle: give `patient`). The timepoint follows."""

    patient = StrictPrimaryKeyRelatedField(
        queryset=Patient.objects.none(), required=False,
        help_text=_("The patient; taken from the cycle when a cycle is given."))
    mmt_max_total = serializers.IntegerField(read_only=True, help_text=_("Derived: 80 (Kendall) or 40 (MRC)."))

    create_only = ("patient", "cycle")
    read_only_messages = MMT_TOTAL_READ_ONLY

    class Meta:
        model = Assessment
        fields = [*BOOKKEEPING, "patient", "cycle", "timepoint", *ASSESSMENT_DATA, "mmt_total", "mmt_total_source",
                  "mmt_max_total", "voided_at", "void_reason"]
        read_only_fields = [*READ_ONLY_BOOKKEEPING, "timepoint", "mmt_total", "voided_at", "void_reason"]
        extra_kwargs = {"cycle": {"help_text": "The cycle of a pre-treatment assessment; null or absent "
                                               "for the end-of-treatment assessment."}}

    def get_fields(self):
        fields = {**super().get_fields(), **mmt_total_fields()}
        fields["patient"].queryset = self.scoped(Patient.objects.all(), "site")
        fields["cycle"].queryset = self.scoped(TreatmentCycle.objects.select_related("patient"), "patient__site")
        return fields

    def persist(self, instance, *, reason, expected_version, user):
        # visits.services: the end-of-treatment visit ends the treatment (malignancy timing)
        return visit_services.assessment_save(assessment=instance, reason=reason, expected_version=expected_version,
                                              user=user)

    def prepare(self, assessment, attrs, errors):
        if assessment.pk is not None:
            return
        cycle = attrs.get("cycle")
        if cycle is not None:
            if attrs.get("patient") not in (None, cycle.patient):
                errors["patient"] = [ErrorDetail("The cycle belongs to another patient.", code="other_patient")]
            assessment.patient = cycle.patient
            assessment.timepoint = AssessmentTimepoint.PRE_CYCLE
        elif attrs.get("patient") is None:
            errors["patient"] = [ErrorDetail("Give the patient (or the cycle).", code="required")]
        else:
            assessment.timepoint = AssessmentTimepoint.END_OF_TREATMENT

    def clean_record(self, assessment, attrs):
        if not assessment.patient_id:
            return {}
        return clean_errors(assessment)


class InfusionSerializer(RecordSerializer):
    """One IVIG infusion day. Each write recomputes the cycle's protocol
    deviations (`visits.services.cycle_save`)."""

    patient = serializers.IntegerField(source="cycle.patient_id", read_only=True)
    prescribed_dose_g = serializers.DecimalField(max_digits=6, decimal_places=1, read_only=True, allow_null=True,
                                                 help_text=_("Derived: 1 g/kg of the cycle's dosing weight."))
    rate_ml_per_kg_min = serializers.DecimalField(max_digits=8, decimal_places=4, read_only=True,
                                                  allow_null=True, help_text=_("Derived: the rate per kg."))

    create_only = ("cycle", "day")

    class Meta:
        model = Infusion
        fields = [*BOOKKEEPING, "cycle", "patient", "day", *INFUSION_DATA, "prescribed_dose_g",
                  "rate_ml_per_kg_min"]
        read_only_fields = READ_ONLY_BOOKKEEPING

    def get_fields(self):
        fields = super().get_fields()
        fields["cycle"].queryset = self.scoped(TreatmentCycle.objects.select_related("patient"), "patient__site")
        return fields

    def persist(self, infusion, *, reason, expected_version, user):
        part = f"day{infusion.day}"
        parts = CycleParts(cycle=infusion.cycle, infusions={infusion.day: infusion})
        if infusion.pk is not None:
            parts.expected_versions[part] = expected_version
        try:
            cycle_save(parts=parts, reason=reason or "Infusion entered", user=user)
        except CyclePartError as exc:
            raise serializers.ValidationError(django_error_detail(exc.error)) from exc
        return infusion


class DeviationSerializer(ModelShapeSerializer):
    """A protocol deviation found by the dosing, rate and window rules; resolved
    (kept) when a correction removes its cause. The rows are append-only: a
    resolution or a recomputed description is a new row (a new id) that
    supersedes the open one, which is no longer listed."""

    cycle_number = serializers.IntegerField(source="cycle.number", read_only=True)
    is_open = serializers.BooleanField(read_only=True)

    class Meta:
        model = ProtocolDeviation
        fields = ["id", "version", "created_at", "updated_at", "patient", "cycle", "cycle_number", "day", "kind",
                  "description", "detected_at", "resolved_at", "resolution", "is_open"]
        read_only_fields = fields


# --- Safety ------------------------------------------------------------------------

@extend_schema_field({"type": "string", "pattern": "^[0-9]{8}$", "nullable": True,
                      "example": "10019211"})
class CodedTermField(serializers.Field):
    """The coded term by its MedDRA lowest-level-term code (8 digits): a CTCAE v5.0 term,
    or an LLT of a loaded MedDRA release. Read back from the event's stored facts (no
    dictionary query per event)."""

    default_error_messages = {
        "invalid": _("A MedDRA LLT code is 8 digits, e.g. 10019211."),
        "unknown": _("No current dictionary term has the LLT code %(code)s."),
    }

    def __init__(self, **kwargs):
        super().__init__(required=False, allow_null=True, **kwargs)

    def get_attribute(self, instance):
        return instance.meddra_llt_code or None

    def to_representation(self, value):
        return value

    def to_internal_value(self, data):
        code = str(data).strip() if isinstance(data, (str, int)) and not isinstance(data, bool) else ""
        if not re.fullmatch(r"[0-9]{8}", code):
            self.fail("invalid")
        term = term_by_llt_code(code)
        if term is None:
            self.fail("unknown", code=code)
        return term


class AdverseEventSerializer(RecordSerializer):
    """An adverse event (CTCAE grade, ICH E2A seriousness, WHO-UMC relatedness);
    a serious one is flagged for expedited (24 h) review. ``term`` is the term as
    reported; ``coded_term`` the LLT code of the CTCAE v5.0 / MedDRA term that codes
    it, whose facts (``meddra_*``) the event stores."""

    coded_term = CodedTermField(help_text=_("The LLT code of the coding term (CTCAE v5.0 or a loaded MedDRA "
                                            "release); null: not coded yet."))

    review_due_at = serializers.DateTimeField(read_only=True, allow_null=True,
                                              help_text=_("Serious events: expedited review due (24 h after "
                                                        "awareness)."))

    create_only = ("patient",)

    class Meta:
        model = AdverseEvent
        fields = [*BOOKKEEPING, "patient", "infusion", "term", "coded_term", *CODED_FIELDS, "description",
                  "onset_date", "end_date", "aware_at",
                  "grade", "serious", *AdverseEvent.CRITERIA, "relatedness", "action_taken", "outcome",
                  "review_due_at", "report_due_at", "reported_late", "rules_version",
                  "reviewed_at", "voided_at", "void_reason"]
        read_only_fields = [*READ_ONLY_BOOKKEEPING, *CODED_FIELDS, "report_due_at", "reported_late", "rules_version",
                            "reviewed_at", "voided_at", "void_reason"]

    def persist(self, instance, *, reason, expected_version, user):
        return adverse_event_save(event=instance, reason=reason, expected_version=expected_version, user=user)

    def get_fields(self):
        fields = super().get_fields()
        fields["patient"].queryset = self.scoped(Patient.objects.all(), "site")
        fields["infusion"].queryset = self.scoped(Infusion.objects.all(), "cycle__patient__site")
        return fields


# --- Concomitant medications -------------------------------------------------------

class MedicationSerializer(RecordSerializer):
    """A concomitant medication (reported name, WHO ATC code when known, dose, route,
    frequency, dates); its flags (corticosteroid, immunosuppressant, statin, oestrogen,
    started during the study) are derived from the ATC code and the first infusion."""

    create_only = ("patient",)

    class Meta:
        model = ConcomitantMedication
        fields = [*BOOKKEEPING, "patient", "drug_name", "atc_code", "indication", "dose", "dose_unit", "route",
                  "frequency", "start_date", "end_date", "ongoing", *MEDICATION_FACTS, "rules_version",
                  "voided_at", "void_reason"]
        read_only_fields = [*READ_ONLY_BOOKKEEPING, *MEDICATION_FACTS, "rules_version", "voided_at",
                            "void_reason"]

    def get_fields(self):
        fields = super().get_fields()
        fields["patient"].queryset = self.scoped(Patient.objects.all(), "site")
        return fields

    def persist(self, instance, *, reason, expected_version, user):
        return medication_save(medication=instance, reason=reason, expected_version=expected_version, user=user)


class MissedCycleSerializer(RecordSerializer):
    """A month without infusion: the planned date it replaces and the reason; the
    patient's next cycle is then planned one cycle interval after it, with its window
    (`visits.rules.next_cycle`). Voided with a reason (`POST .../void/`), never deleted."""

    create_only = ("patient",)

    class Meta:
        model = MissedCycle
        fields = [*BOOKKEEPING, "patient", "planned_date", "reason", "reason_detail", "voided_at", "void_reason"]
        read_only_fields = [*READ_ONLY_BOOKKEEPING, "voided_at", "void_reason"]

    def get_fields(self):
        fields = super().get_fields()
        fields["patient"].queryset = self.scoped(Patient.objects.all(), "site")
        return fields

    def persist(self, instance, *, reason, expected_version, user):
        return visit_services.missed_cycle_save(missed=instance, reason=reason, expected_version=expected_version,
                                                user=user)


# --- Data queries ----------------------------------------------------------------------

class DataQueryMessageSerializer(serializers.ModelSerializer):
    author = serializers.CharField(source="author.username", read_only=True)

    class Meta:
        model = DataQueryMessage
        fields = ["kind", "author", "at", "text"]
        read_only_fields = fields


class DataQuerySerializer(serializers.ModelSerializer):
    """A monitor's question about one record (and field), with its thread."""

    record_type = serializers.CharField(source="content_type.model", read_only=True,
                                        help_text=_("The kind of record queried (patient, treatmentcycle...)."))
    record_id = serializers.IntegerField(source="object_id", read_only=True)
    raised_by = serializers.CharField(source="raised_by.username", read_only=True)
    messages = DataQueryMessageSerializer(many=True, read_only=True)

    class Meta:
        model = DataQuery
        fields = ["id", "patient", "cycle_number", "record_type", "record_id", "record_label", "field_name",
                  "field_label", "status", "raised_by", "raised_at", "updated_at", "check_id", "messages"]
        read_only_fields = fields


class DataQueryRaiseSerializer(ActionSerializer):
    """Raise a data query on a record of one patient."""

    patient = StrictPrimaryKeyRelatedField(queryset=Patient.objects.none())
    target = StrictCharField(
        max_length=200,
        help_text=_("`<model>:<id>:<field>`: the record (patient, treatmentcycle, assessment, infusion, "
                  "diagnosis, malignancyhistory, adverseevent) and field queried; an empty field "
                  "queries the whole record. Example: `assessment:12:ck_u_per_l`."))
    question = StrictCharField(max_length=2000, allow_blank=True)

    def get_fields(self):
        fields = super().get_fields()
        fields["patient"].queryset = scope_to_user_sites(Patient.objects.all(), request_user(self))
        return fields


class DataQueryReplySerializer(ActionSerializer):
    """Answer, close or re-open a data query."""

    text = StrictCharField(max_length=2000, required=False, allow_blank=True,
                           help_text=_("The answer, or why the query is closed or re-opened."))
