import re

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.forms import (MAX_ID, AsciiIntegerField, ClinicalRecordForm, CleanTextFormMixin, DateInput, TimeInput,
                        MissingCodesFormMixin,
                        FiniteDecimalField, add_validation_error, error_summary, stale_error,
                        use_finite_decimals)
from core.renderers import FieldRenderer
from core.services import StaleRecordError
from core.validation import validate_multiline_text

from . import selectors
from .rules import DosingBasis
from .models import Assessment, AssessmentTimepoint, Infusion, MissedCycle, TreatmentCycle
from .services import (CyclePartError, assessment_save, CyclePartsInvalid, cycle_parts_build, cycle_save,
                       missed_cycle_save)

GRADE_FIELDS = list(Assessment.GRADE_FIELDS)
LAB_FIELDS = [
    "ck_u_per_l", "ck_lln_u_per_l", "ck_uln_u_per_l",
    "aldolase_u_per_l", "aldolase_uln_u_per_l", "ldh_u_per_l", "ldh_uln_u_per_l",
    "ast_u_per_l", "ast_uln_u_per_l", "alt_u_per_l", "alt_uln_u_per_l",
]
SCORE_FIELDS = ["physician_global", "patient_global", "extramuscular_global", "haq"]


class PartForm(MissingCodesFormMixin, CleanTextFormMixin, forms.ModelForm):
    """One part of the record-cycle page: its version travels with it; the
    page has one reason for change for all its parts."""

    # The page shows 51 fields: widgets and field groups through Jinja2 (core/renderers.py).
    default_renderer = FieldRenderer()

    expected_version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, model_rules=True, **kwargs):
        super().__init__(*args, **kwargs)
        # False inside ``CycleEntry``: the fields are parsed here, the model rules run once, for
        # all parts together, in ``visits.services.cycle_parts_build``.
        self.model_rules = model_rules
        use_finite_decimals(self)  # "sNaN" is a field error, not a 500 in changed_data
        self.add_missing_fields()
        if self.instance.pk:
            self.fields["expected_version"].initial = self.instance.version
            self.fields["expected_version"].required = True
        for name, field in self.fields.items():
            widget = field.widget
            if isinstance(widget, forms.CheckboxInput):
                widget.attrs.setdefault("class", "form-check-input")
            elif isinstance(widget, forms.Select):
                widget.attrs.setdefault("class", "form-select form-select-sm")
            elif not isinstance(widget, forms.HiddenInput):
                widget.attrs.setdefault("class", "form-control form-control-sm")

    @property
    def data_changed(self):
        return [f for f in self.changed_data if f != "expected_version"]

    @property
    def values(self):
        """The cleaned model field values: the plain data the cycle builder takes."""
        values = {name: self.cleaned_data[name] for name in self._meta.fields if name in self.cleaned_data}
        if self.missing_fields:
            values["missing_codes"] = self.missing_codes_value()
        return values

    def _post_clean(self):
        if self.model_rules:
            super()._post_clean()


class CycleForm(PartForm):
    class Meta:
        model = TreatmentCycle
        fields = ["start_date", "weight_kg", "height_cm", "dosing_basis"]
        widgets = {"start_date": DateInput()}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Decimal fields are localized text inputs (core.forms.localize_decimal): no "step".
        self.fields["weight_kg"].widget.attrs["data-role"] = "weight"
        self.fields["height_cm"].widget.attrs["data-role"] = "height"
        self.fields["dosing_basis"].widget.attrs["data-role"] = "basis"


class AssessmentForm(PartForm):
    class Meta:
        model = Assessment
        fields = ["assessment_date", "mmt_scale", *GRADE_FIELDS, "mmt_total_reported", *LAB_FIELDS, *SCORE_FIELDS]
        widgets = {"assessment_date": DateInput()}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in GRADE_FIELDS:
            self.fields[name].widget.attrs.update({"min": 0, "max": 10, "data-role": "grade"})

    @property
    def grade_fields(self):
        """The MMT-8 grades' bound fields, in order (the page lays them out together)."""
        return [self[name] for name in GRADE_FIELDS]


class InfusionForm(PartForm):
    class Meta:
        model = Infusion
        fields = ["infusion_date", "start_time", "end_time", "product", "lot", "concentration_pct",
                  "volume_ml", "dose_g", "max_rate_ml_per_h"]
        widgets = {
            "infusion_date": DateInput(),
            "start_time": TimeInput(),
            "end_time": TimeInput(),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["dose_g"].widget.attrs["data-role"] = "dose"
        self.fields["volume_ml"].widget.attrs["data-role"] = "volume"
        self.fields["concentration_pct"].widget.attrs["data-role"] = "concentration"
        self.fields["infusion_date"].widget.attrs["data-role"] = "date"
        self.fields["max_rate_ml_per_h"].widget.attrs["data-role"] = "rate"


#: What a new cycle carries forward from the patient's previous cycle, per part, as initial values
#: the clinician checks: the values that stay the same month to month (a lot, a date, a dose or
#: a result is entered afresh).
CARRY_FORWARD = {
    "cycle": ("weight_kg", "height_cm", "dosing_basis"),
    "assessment": ("mmt_scale", "ck_lln_u_per_l", "ck_uln_u_per_l", "aldolase_uln_u_per_l",
                   "ldh_uln_u_per_l", "ast_uln_u_per_l", "alt_uln_u_per_l"),
    "infusion": ("product", "concentration_pct"),
}

_LOOK_UP = object()


def carried_forward(previous):
    """``{part: {field: value}}`` a new cycle takes from ``previous`` (a
    :func:`visits.selectors.previous_cycle`, or None): the values present, each infusion day's
    from the same day (or the other day when that one was not given)."""
    if previous is None:
        return {}
    carried = {"cycle": {name: getattr(previous, name) for name in CARRY_FORWARD["cycle"]}}
    try:
        assessment = previous.assessment
    except Assessment.DoesNotExist:
        assessment = None
    if assessment is not None and assessment.voided_at is None:
        carried["assessment"] = {name: getattr(assessment, name) for name in CARRY_FORWARD["assessment"]}
    infusions = getattr(previous, "infusions_by_day", {})
    for day in (1, 2):
        source = infusions.get(day) or infusions.get(3 - day)
        if source is not None:
            carried[f"day{day}"] = {name: getattr(source, name) for name in CARRY_FORWARD["infusion"]}
    return {part: {name: value for name, value in values.items() if value not in (None, "")}
            for part, values in carried.items()}


class CycleEntry:
    """The record-cycle page: the cycle (weight), its pre-treatment assessment
    and both infusion days. Each part's form parses its fields; the parts are
    built and checked together by ``visits.services.cycle_parts_build`` and
    saved in one transaction by ``visits.services.cycle_save``.

    On a new cycle, day 2 may be left empty (it then becomes a 'missing day'
    deviation); on an edit, a reason for change is required when anything
    changed.
    """

    PARTS = ("cycle", "assessment", "day1", "day2")
    PART_LABELS = {"cycle": _("Visit"), "assessment": _("Assessment"), "day1": _("Day 1"), "day2": _("Day 2")}

    def __init__(self, data=None, *, patient, cycle=None, user=None, previous=_LOOK_UP):
        """``previous``: the patient's previous cycle (:func:`visits.selectors.previous_cycle`,
        looked up when not given) for a new cycle: its number and what it carries forward."""
        self.patient, self.user = patient, user
        self.is_edit = cycle is not None
        self.previous, self.carried = None, {}
        if cycle is None:
            if previous is _LOOK_UP:
                previous = selectors.previous_cycle(patient)
            self.previous = previous
            self.carried = carried_forward(previous)
            # The next number: cycles are never deleted, so the last one's number + 1.
            cycle = TreatmentCycle(patient=patient, number=previous.number + 1 if previous else 1)
        self.cycle = cycle
        existing = {i.day: i for i in cycle.infusions.all()} if cycle.pk else {}
        try:
            assessment = cycle.assessment if cycle.pk else None
        except Assessment.DoesNotExist:
            assessment = None
        self.forms = {
            "cycle": CycleForm(data, prefix="cycle", instance=cycle, model_rules=False,
                               initial=self.carried.get("cycle")),
            "assessment": AssessmentForm(
                data, prefix="assessment", model_rules=False, initial=self.carried.get("assessment"),
                instance=assessment or Assessment(patient=patient, cycle=cycle,
                                                  timepoint=AssessmentTimepoint.PRE_CYCLE)),
        }
        for day in (1, 2):
            instance = existing.get(day) or Infusion(cycle=cycle, day=day)
            self.forms[f"day{day}"] = InfusionForm(
                data, prefix=f"day{day}", instance=instance, model_rules=False,
                initial=self.carried.get(f"day{day}"),
                # A day not yet recorded may stay empty (a missing-day deviation).
                empty_permitted=instance.pk is None and (day == 2 or self.is_edit),
                use_required_attribute=not (instance.pk is None and day == 2),
            )
        self.reason = forms.CharField(
            label=_("Reason for change"), required=False, max_length=500,
            widget=forms.Textarea(attrs={"rows": 2, "class": "form-control"}),
        )
        self.data = data
        self.reason_errors = []
        self.non_field_errors = []
        self.parts = None

    def __getitem__(self, part):
        return self.forms[part]

    @property
    def carried_from(self):
        """The cycle the new cycle's initial values were carried forward from, or None."""
        return self.previous if self.carried else None

    @property
    def error_summary(self):
        """Every error of the page, in its order, for the summary at its top (each field's
        links to the field: ``#id_<part>-<field>``)."""
        items = [{"id": None, "label": "", "message": message} for message in self.non_field_errors]
        for part in self.PARTS:
            items += error_summary(self.forms[part], part=self.PART_LABELS[part])
        items += [{"id": "id_change_reason", "label": gettext("Reason for change"), "message": message}
                  for message in self.reason_errors]
        return items

    @property
    def reason_value(self):
        return ((self.data or {}).get("change_reason") or "").strip()

    def changed_parts(self):
        return [p for p, f in self.forms.items() if f.data_changed]

    def is_valid(self):
        valid = all([self.forms[p].is_valid() for p in self.PARTS])
        if self.is_edit:
            if not self.changed_parts():
                self.non_field_errors.append(gettext("Nothing was changed."))
                valid = False
            elif not self.reason_value:
                self.reason_errors.append(gettext("Give a reason for changing a saved record."))
                valid = False
            else:
                try:
                    validate_multiline_text(self.reason_value)
                except ValidationError as error:
                    self.reason_errors.extend(error.messages)
                    valid = False
        built = self._build()  # the rules' errors beside the fields' own, as a model form shows them
        return valid and built

    def _build(self):
        """The parts from the forms' values, checked by the model rules (the cycle builder); each
        refusal on its part's fields. A part whose fields did not parse is left to their errors
        (the cycle's other fields are still checked, as a model form does)."""
        parsed = {part: not self.forms[part].errors for part in self.PARTS}
        changed = set(self.changed_parts()) if self.is_edit else set(self.PARTS)
        data, expected = {}, {}
        for part in self.PARTS:
            form = self.forms[part]
            entered = part in changed and not (form.empty_permitted and not form.has_changed())
            data[part] = form.values if part == "cycle" or (entered and parsed[part]) else None
            if entered and form.instance.pk:
                expected[part] = form.cleaned_data.get("expected_version")
        try:
            self.parts = cycle_parts_build(
                patient=self.patient, cycle=self.cycle, cycle_data=data["cycle"],
                assessment_data=data["assessment"], infusions_data={1: data["day1"], 2: data["day2"]},
                expected_versions=expected)
        except CyclePartsInvalid as exc:
            for part, error in exc.errors.items():
                form = self.forms[part]
                if part == "cycle" or parsed[part]:
                    add_validation_error(form, _beside(error, form.errors))
            return False
        return True

    def save(self):
        """Save through the service; on a rule or version failure, put the error
        on the right part and return None."""
        try:
            self.deviations = cycle_save(parts=self.parts, reason=self.reason_value, user=self.user)
        except CyclePartError as exc:
            add_validation_error(self.forms[exc.part], exc.error)
            return None
        except StaleRecordError as exc:
            self.non_field_errors.extend(
                stale_error(exc.instance, exc.expected_version).messages)
            return None
        return self.parts.cycle


def _beside(error, form_errors):
    """A model error without the fields whose input already failed to parse (a model form leaves
    those out of its model validation too)."""
    if not hasattr(error, "error_dict"):
        return error
    return ValidationError({name: errors for name, errors in error.error_dict.items() if name not in form_errors})


class EndOfTreatmentForm(ClinicalRecordForm):
    class Meta:
        model = Assessment
        fields = ["assessment_date", "mmt_scale", *GRADE_FIELDS, "mmt_total_reported", *LAB_FIELDS, *SCORE_FIELDS]
        widgets = {"assessment_date": DateInput()}

    def __init__(self, *args, patient=None, **kwargs):
        super().__init__(*args, **kwargs)
        if patient is not None:
            self.instance.patient = patient
            self.instance.timepoint = AssessmentTimepoint.END_OF_TREATMENT
            self.instance.cycle = None

    def save(self, commit=True):
        """Through ``visits.services.assessment_save`` (the end of treatment and
        malignancy timing follow)."""
        assessment = super(ClinicalRecordForm, self).save(commit=False)
        if commit:
            assessment_save(assessment=assessment,
                            reason=self.cleaned_data.get("change_reason", "") if self.is_edit else "",
                            expected_version=self.cleaned_data.get("expected_version") if self.is_edit else None)
        return assessment



class MissedCycleForm(ClinicalRecordForm):
    """A month without infusion: the planned date it replaces (the patient's stored next
    cycle by default) and the reason. Saved through ``visits.services.missed_cycle_save``
    (the next cycle is then planned from it)."""

    submit_label = _("Record the missed cycle")

    class Meta:
        model = MissedCycle
        fields = ["planned_date", "reason", "reason_detail"]
        widgets = {"planned_date": DateInput(), "reason_detail": forms.Textarea(attrs={"rows": 2})}

    def __init__(self, *args, patient=None, **kwargs):
        super().__init__(*args, **kwargs)
        if patient is not None:
            self.instance.patient = patient
            if not self.is_edit:
                self.fields["planned_date"].initial = patient.next_cycle_planned_date

    def save(self, commit=True):
        missed = super(ClinicalRecordForm, self).save(commit=False)
        if commit:
            missed_cycle_save(missed=missed, user=self.user,
                              reason=self.cleaned_data.get("change_reason", "") if self.is_edit else "",
                              expected_version=self.cleaned_data.get("expected_version") if self.is_edit else None)
        return missed


# --- The record-cycle page's live preview (visits.views.CyclePreviewView) ---------

#: A decimal as a field shows it: a dot, or the comma of a language that writes one (the
#: localized field decides which separator the active language reads).
ASCII_DECIMAL = re.compile(r"[0-9]{1,9}([.,][0-9]{0,6})?|[.,][0-9]{1,6}")
#: ISO, or the dd/mm/yyyy of a language that writes it (the field's input formats decide).
ASCII_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9]{2}/[0-9]{2}/[0-9]{4}")


class AsciiDecimalField(FiniteDecimalField):
    """A positive decimal as typed in the page's field and sent in a query parameter: ASCII
    digits and the active language's decimal separator only (``Decimal()`` reads other
    scripts' digits and exponents); "72,5" in French, "72.5" in English."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def to_python(self, value):
        if value not in self.empty_values and not ASCII_DECIMAL.fullmatch(str(value).strip()):
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return super().to_python(value)


class AsciiDateField(forms.DateField):
    """A date as the page's field shows it, in the active language's input formats
    (dd/mm/yyyy or ISO in French, ISO in English)."""

    def to_python(self, value):
        if value not in self.empty_values and not ASCII_DATE.fullmatch(str(value).strip()):
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return super().to_python(value)


class CyclePreviewForm(forms.Form):
    """The query of the record-cycle page's preview: what the clinician has typed so far.
    A value that is not a number is a field error; a missing one previews as nothing."""

    weight_kg = AsciiDecimalField()
    height_cm = AsciiDecimalField()
    dosing_basis = forms.ChoiceField(choices=DosingBasis.choices, required=False)
    start_date = AsciiDateField(required=False)
    #: The cycle's number: its visit window counts from the start of the cycle before it.
    cycle = AsciiIntegerField(max_value=32767)
    day1_date = AsciiDateField(required=False)
    day2_date = AsciiDateField(required=False)
    day1_dose_g = AsciiDecimalField()
    day1_rate = AsciiDecimalField()
    day2_dose_g = AsciiDecimalField()
    day2_rate = AsciiDecimalField()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in GRADE_FIELDS:
            self.fields[name] = AsciiIntegerField(min_value=0, max_value=MAX_ID)
