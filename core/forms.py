from crispy_forms.helper import FormHelper
from crispy_forms.layout import Layout, Submit
from django import forms
from django.core.exceptions import ValidationError
from django.utils.formats import date_format
from django.utils.text import capfirst
from django.utils.timezone import localtime
from django.utils.translation import get_language
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from .history import changes_since, describe_changes
from .services import StaleRecordError, record_save
from .validation import ASCII_DIGITS, ASCII_KEY, text_validator_for, validate_multiline_text


#: What each language's date inputs show as their format (the first of the locale's
#: DATE_INPUT_FORMATS, ivigtrial/formats/<lang>/formats.py) and the pattern they accept.
DATE_HINTS = {
    "fr": {"placeholder": "JJ/MM/AAAA", "pattern": r"\d{2}/\d{2}/\d{4}|\d{4}-\d{2}-\d{2}"},
}
DATE_HINT_DEFAULT = {"placeholder": "YYYY-MM-DD", "pattern": r"\d{4}-\d{2}-\d{2}"}
DATETIME_HINTS = {
    "fr": {"placeholder": "JJ/MM/AAAA HH:MM",
           "pattern": r"\d{2}/\d{2}/\d{4} \d{2}:\d{2}|\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}"},
}
DATETIME_HINT_DEFAULT = {"placeholder": "YYYY-MM-DD HH:MM", "pattern": r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}"}


def date_hint(kind="date"):
    """{"placeholder", "pattern"} of a date ("date") or date-time ("datetime") input
    in the active language."""
    language = (get_language() or "en").split("-")[0]
    if kind == "datetime":
        return DATETIME_HINTS.get(language, DATETIME_HINT_DEFAULT)
    return DATE_HINTS.get(language, DATE_HINT_DEFAULT)


class LocalizedDateWidgetMixin:
    """A date or time text input that shows and accepts the active language's format:
    ``YYYY-MM-DD`` in English, ``JJ/MM/AAAA`` in French (``ivigtrial/formats``). The
    value is written in the locale's first input format at render time, so the same
    form class serves every language; the field parses with the same formats."""

    hint_kind = "date"

    def get_context(self, name, value, attrs):
        hint = date_hint(self.hint_kind)
        attrs = {"placeholder": hint["placeholder"], "pattern": hint["pattern"],
                 "title": _("Format %(format)s") % {"format": hint["placeholder"]}, **(attrs or {})}
        return super().get_context(name, value, attrs)


class DateInput(LocalizedDateWidgetMixin, forms.DateInput):
    """Every form's date, typed as text in the language's format. A ``type=date``
    input shows the browser's locale (mm/dd/yyyy in an English Chromium), not the
    user's chosen language, so this is a text input with the format as its placeholder;
    the field still parses and validates on the server."""

    input_type = "text"
    size = 10

    def __init__(self, attrs=None, format=None):
        attrs = {"inputmode": "numeric", "autocomplete": "off", "maxlength": self.size, **(attrs or {})}
        super().__init__(attrs=attrs, format=format)


class DateTimeInput(LocalizedDateWidgetMixin, forms.DateTimeInput):
    """A date and time (24-hour, the study's zone named in the footer)."""

    input_type = "text"
    hint_kind = "datetime"

    def __init__(self, attrs=None, format=None):
        attrs = {"autocomplete": "off", "maxlength": 16, **(attrs or {})}
        super().__init__(attrs=attrs, format=format)


class TimeInput(forms.TimeInput):
    """A time of day as ``HH:MM`` (24-hour in every language); ``type=time`` shows
    12-hour in an English browser."""

    input_type = "text"

    def __init__(self, attrs=None, format=None):
        attrs = {"placeholder": _("HH:MM"), "pattern": r"\d{2}:\d{2}", "title": _("Format HH:MM (24-hour)"),
                 "inputmode": "numeric", "autocomplete": "off", "maxlength": 5, **(attrs or {})}
        super().__init__(attrs=attrs, format=format or "%H:%M")


class FiniteDecimalField(forms.DecimalField):
    """A DecimalField that refuses NaN, sNaN and Infinity while parsing.

    Django's field only refuses them in ``validate()``; ``has_changed()`` (and so
    ``changed_data``, which the edit forms read) compares the parsed value with
    the stored one, and comparing with ``Decimal("sNaN")`` raises
    ``InvalidOperation``: an edit form posted with "sNaN" ended in a 500.
    """

    def __init__(self, **kwargs):
        kwargs.setdefault("localize", True)
        super().__init__(**kwargs)
        if self.localize:
            localize_decimal(self)

    def to_python(self, value):
        value = super().to_python(value)
        if value is not None and not value.is_finite():
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return value


#: A number input's own attributes, meaningless on a text input.
NUMBER_ONLY_ATTRS = ("step", "min", "max")


def localize_decimal(field):
    """Show and accept a decimal in the active language's format: "72,5" in French,
    "72.5" in English (a French form also takes the dot). A ``type=number`` input
    follows the browser's locale, not the user's language, and cannot hold a comma
    in every browser, so the field becomes a text input with a decimal keypad; the
    field parses with the locale's separator (``sanitize_separators``). No thousands
    separator is ever shown (``USE_THOUSAND_SEPARATOR`` is off)."""
    field.localize = True
    old = field.widget
    attrs = {key: value for key, value in old.attrs.items() if key not in NUMBER_ONLY_ATTRS}
    attrs.setdefault("inputmode", "decimal")
    attrs.setdefault("autocomplete", "off")
    widget = forms.TextInput(attrs=attrs)
    widget.is_localized = True
    widget.is_required = old.is_required
    field.widget = widget


class CleanTextFormMixin:
    """A form whose text fields refuse invisible and control characters (the
    model's ``full_clean()`` does the same for model fields; this covers the
    form-only fields too: reasons, query messages). Password fields are left
    as typed."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            if isinstance(field, forms.CharField) and not isinstance(field.widget, forms.PasswordInput):
                field.validators.append(text_validator_for(field))


#: The largest id a filter takes (a PostgreSQL bigint).
MAX_ID = 2**63 - 1


class AsciiIntegerField(forms.IntegerField):
    """A whole number in ASCII digits only. ``int()`` reads other scripts' digits
    ("١٢" is 12) and ``str.isdigit()`` accepts "²", which ``int()`` then refuses:
    a query parameter is parsed here instead, into a value or a field error."""

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def to_python(self, value):
        if value not in self.empty_values and not ASCII_DIGITS.fullmatch(str(value).strip()):
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return super().to_python(value)


class AsciiModelChoiceField(forms.ModelChoiceField):
    """A ModelChoiceField whose key (a pk, a site code) is printable ASCII: the
    database would read "１" (fullwidth) as the id 1, and a NUL byte is an error
    on PostgreSQL."""

    def to_python(self, value):
        if value not in self.empty_values and not ASCII_KEY.fullmatch(str(value)):
            raise forms.ValidationError(self.error_messages["invalid_choice"], code="invalid_choice",
                                        params={"value": value})
        return super().to_python(value)


class FilterForm(forms.Form):
    """The GET filters of a list page. A value that does not validate is
    ignored (the page stays a 200 with the other filters applied) and its
    error is available to the template; nothing is parsed by hand."""

    def __init__(self, data=None, *, sites=None, **kwargs):
        super().__init__(data if data is not None else {}, **kwargs)
        if sites is not None and "site" in self.fields:
            self.fields["site"].queryset = sites

    @property
    def filters(self):
        """{name: value} of the valid, non-empty filters."""
        self.is_valid()
        return {name: value for name, value in self.cleaned_data.items() if value not in (None, "")}

    @property
    def selected(self):
        """{name: the value as sent} of the valid filters, for the page to show them."""
        return {name: self.data.get(name) for name in self.filters}


def use_finite_decimals(form):
    """Give a form's decimal fields (built from the model) the finite parsing above."""
    for field in form.fields.values():
        if type(field) is forms.DecimalField:
            field.__class__ = FiniteDecimalField
            localize_decimal(field)


class MissingCodesFormMixin:
    """A compact missing-data select beside each optional clinical field of the form's
    model (``MISSING_ALLOWED``, ``core.missing``): ``<field>_missing``, placed right after
    its field (crispy forms show it below it; the Jinja2 field group,
    ``core/jinja2/forms/field.html``, beside it). ``clean()`` gathers the selects into the
    instance's ``missing_codes``; the model's ``full_clean()`` judges them (a value and a
    code is an error on the field), as for every other channel."""

    def add_missing_fields(self):
        from .missing import COLUMN_SUFFIX, MissingCode

        model = self._meta.model
        allowed = getattr(model, "MISSING_ALLOWED", ())
        codes = self.instance.missing_codes if isinstance(getattr(self.instance, "missing_codes", None), dict) else {}
        self.missing_fields = {}
        fields = {}
        for name, field in self.fields.items():
            fields[name] = field
            if name not in allowed:
                continue
            companion = f"{name}{COLUMN_SUFFIX}"
            fields[companion] = forms.ChoiceField(
                label=format_lazy(_("{field}: missing because"), field=field.label), required=False,
                choices=[("", pgettext_lazy("missing-data code", "—")), *MissingCode.choices],
                initial=codes.get(name, ""),
                widget=forms.Select(attrs={"class": "form-select form-select-sm missing-code",
                                           "title": _("Why the value is missing")}))
            self.missing_fields[name] = companion
        self.fields = fields

    def with_missing(self, *names):
        """Crispy layout items for ``names``: a field with a missing-data select becomes
        one row, the field and its select (the select's label visually hidden)."""
        from crispy_forms.layout import Div, Field

        items = []
        for name in names:
            companion = getattr(self, "missing_fields", {}).get(name)
            if companion:
                items.append(Div(Div(name, css_class="missing-pair-value"),
                                 Field(companion, wrapper_class="missing-pair-code"),
                                 css_class="missing-pair"))
            else:
                items.append(name)
        return items

    def missing_codes_value(self):
        """The instance's codes with this form's selects applied ({field: code})."""
        stored = getattr(self.instance, "missing_codes", None)
        codes = dict(stored) if isinstance(stored, dict) else {}
        for name, companion in self.missing_fields.items():
            code = self.cleaned_data.get(companion) or ""
            if code:
                codes[name] = code
            else:
                codes.pop(name, None)
        return codes

    def clean(self):
        cleaned = super().clean()
        if self.missing_fields:
            self.instance.missing_codes = self.missing_codes_value()
        return cleaned


class ClinicalRecordForm(MissingCodesFormMixin, CleanTextFormMixin, forms.ModelForm):
    """ModelForm for a clinical record.

    - On edit, a reason for change is required; it becomes the history
      row's change reason.
    - The record's version travels in a hidden field; a stale submit (the
      record was saved by someone else meanwhile) is refused with a message
      and overwrites nothing.
    - An edit that changes nothing is refused rather than writing an empty
      history row.
    """

    change_reason = forms.CharField(
        label=_("Reason for change"),
        max_length=500,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Required when correcting a saved record; kept in the audit trail."),
        error_messages={"required": _("Give a reason for changing a saved record.")},
    )
    expected_version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    BOOKKEEPING = ("change_reason", "expected_version")
    submit_label = _("Save")

    def __init__(self, *args, user=None, **kwargs):
        self.user = user
        super().__init__(*args, **kwargs)
        use_finite_decimals(self)
        self.add_missing_fields()
        if self.is_edit:
            self.fields["change_reason"].required = True
            self.fields["expected_version"].required = True
            self.fields["expected_version"].initial = self.instance.version
        else:
            del self.fields["change_reason"]
            del self.fields["expected_version"]
        self.helper = FormHelper()
        self.helper.add_input(Submit("submit", self.submit_label))
        if self.missing_fields:  # a form with its own layout calls with_missing() in it
            companions = set(self.missing_fields.values())
            self.helper.layout = Layout(*self.with_missing(*[n for n in self.fields if n not in companions]))

    def bookkeeping_layout(self):
        """Layout items for the reason for change and the version (edit only)."""
        return [name for name in self.BOOKKEEPING if name in self.fields]

    @property
    def is_edit(self):
        return self.instance.pk is not None

    def clean_change_reason(self):
        reason = (self.cleaned_data.get("change_reason") or "").strip()
        if self.is_edit and not reason:
            raise forms.ValidationError(
                _("Give a reason for changing a saved record."), code="reason_required"
            )
        return reason

    def clean(self):
        cleaned = super().clean()
        if self.is_edit:
            data_changed = [f for f in self.changed_data if f not in self.BOOKKEEPING]
            if not data_changed and not self.errors:
                raise forms.ValidationError(_("Nothing was changed."), code="no_change")
            submitted = cleaned.get("expected_version")
            if submitted is not None and submitted != self._stored_version():
                self.add_stale_error()
        return cleaned

    def _stored_version(self):
        model = type(self.instance)
        return model.objects.filter(pk=self.instance.pk).values_list("version", flat=True).first()

    def add_stale_error(self):
        self.add_error(None, stale_error(self.instance, self.cleaned_data.get("expected_version")))

    def save(self, commit=True):
        instance = super().save(commit=False)
        if not commit:
            return instance
        expected = self.cleaned_data.get("expected_version") if self.is_edit else None
        record_save(
            instance=instance,
            reason=self.cleaned_data.get("change_reason", "") if self.is_edit else "",
            expected_version=expected,
            user=self.user,
        )
        self.save_m2m()
        return instance

    def save_or_report_conflict(self):
        """Save; on a lost-update race return None with the conflict on the form."""
        try:
            return self.save()
        except StaleRecordError:
            self.add_stale_error()
            return None
        except ValidationError as error:  # e.g. locked between validation and save
            add_validation_error(self, error)
            return None


def stale_error(instance, opened_version):
    """The conflict message of a lost-update race: who saved what since the
    editor opened ``opened_version``, and that nothing was overwritten."""
    stored = type(instance).objects.filter(pk=instance.pk).first()
    if stored is None:
        return forms.ValidationError(
            _("Someone else saved this record after you opened it. %(what)s Nothing was overwritten: "
              "reload the page to see their change, then enter yours again if it is still needed."),
            code="stale", params={"what": ""})
    what = describe_changes(changes_since(stored, opened_version)) if opened_version is not None else ""
    return forms.ValidationError(
        _("Someone else saved this record on %(when)s after you opened it. %(what)s Nothing was "
          "overwritten: reload the page to see their change, then enter yours again if it is still needed."),
        code="stale",
        params={"when": date_format(localtime(stored.updated_at), "DATETIME_FORMAT"), "what": what},
    )


def add_validation_error(form, error):
    """Put a model ValidationError on a form, field by field where the form has
    the field, else as a form-wide error."""
    if hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, error)


class ReasonForm(CleanTextFormMixin, forms.Form):
    """A plain form for an action that needs only a reason (void, unlock...)."""

    submit_label = _("Confirm")
    submit_class = "btn-primary"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.add_input(Submit("submit", self.submit_label, css_class=self.submit_class))


class VoidForm(ReasonForm):
    """Void a record entered in error: it is kept, marked void, with the reason."""

    submit_label = _("Void entry")
    submit_class = "btn-danger"

    void_reason = forms.CharField(label=_("Reason for voiding"), max_length=1000,
                                  widget=forms.Textarea(attrs={"rows": 2}))
    expected_version = forms.IntegerField(widget=forms.HiddenInput)


def error_summary(form, *, part=""):
    """The errors of a bound form for the page's error summary, in the form's order: one item per
    message, ``{"id": the field's input id (the summary links to it) or None, "label": what it is
    about, "message": ...}``; ``part`` names the form on a page of several (the record-cycle page)."""
    if not form.is_bound:
        return []
    items = [{"id": None, "label": part, "message": message} for message in form.non_field_errors()]
    for field in form:
        label = capfirst(str(field.label))
        for message in field.errors:
            items.append({"id": None if field.is_hidden else (field.id_for_label or field.auto_id),
                          "label": f"{part}: {label}" if part else label, "message": message})
    return items
