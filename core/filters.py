"""The building blocks of the list filters (django-filter).

Each list concept has one ``FilterSet`` in its app's ``filters.py``, used by
the page (``FilterSet(request.GET, queryset=<selector>, request=request).qs``),
by the API viewset (``filterset_class``, through ``api.views.FilterBackend``)
and so by the selectors' callers alike. The values are parsed by form fields,
never by hand:

- ids and site keys in ASCII digits only (``core.forms.AsciiIntegerField``,
  ``AsciiModelChoiceField``): ``?site=٣`` is a field error, not site 3;
- the site filter offers the user's sites only (``accounts.scoping``): a site
  outside them is a field error and widens nothing;
- a page ignores an invalid filter and shows its error (the other filters
  apply); the API answers 400 with the field errors.

Each filter carries its OpenAPI schema (drf-spectacular reads it), so the
documented parameters are exactly the ones parsed.
"""

import django_filters as df
from django import forms
from django.utils.translation import gettext_lazy as _
from drf_spectacular.drainage import set_override

from accounts.models import Site
from accounts.scoping import scope_to_user_sites

from .forms import MAX_ID, AsciiIntegerField, AsciiModelChoiceField

#: The spellings of true and false a flag accepts (any case): the API's and the pages' ("1").
TRUE, FALSE = frozenset({"true", "1", "yes"}), frozenset({"false", "0", "no"})


def documented(filter_, schema):
    """Give a filter its OpenAPI schema (as ``extend_schema_field`` does), described
    by its help text (or its label)."""
    description = filter_.extra.get("help_text") or filter_.label
    if description:
        schema = {**schema, "description": str(description)}
    return set_override(filter_, "field", schema)


class IdFilter(df.Filter):
    """A record id or a number: ASCII digits, 1 to ``MAX_ID``."""

    field_class = AsciiIntegerField

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.field_class(**{k: v for k, v in self.extra.items() if k in ("min_value", "max_value")})
        documented(self, {"type": "integer", "minimum": field.min_value, "maximum": field.max_value})


class FlagField(forms.Field):
    """true / false (also 1 / 0, yes / no, any case); anything else is an error."""

    default_error_messages = {"invalid": _("Give true or false (1 or 0).")}

    def to_python(self, value):
        if value in self.empty_values:
            return None
        text = str(value).strip().lower()
        if text in TRUE:
            return True
        if text in FALSE:
            return False
        raise forms.ValidationError(self.error_messages["invalid"], code="invalid")


class FlagFilter(df.BooleanFilter):
    field_class = FlagField


class ChoiceFilter(df.TypedChoiceFilter):
    """One of a fixed list of values (``choices``: (value, label) pairs); integer
    values are coerced to int."""

    def __init__(self, *args, choices, empty_label=_("Any"), **kwargs):
        values = [value for value, _ in choices]
        integers = all(isinstance(v, int) for v in values)
        kwargs.setdefault("coerce", int if integers else str)
        kwargs.setdefault("empty_value", None)
        super().__init__(*args, choices=[("", empty_label), *((str(v), label) for v, label in choices)],
                         **kwargs)
        documented(self, {"type": "integer" if integers else "string", "enum": values})


def user_sites(request):
    """The sites a filter may name: the user's (``accounts.scoping``), none without a user."""
    user = getattr(request, "user", None)
    if user is None:
        return Site.objects.none()
    return scope_to_user_sites(Site.objects.order_by("code"), user, site_field="pk")


class SiteFilter(df.ModelChoiceFilter):
    """One of the user's sites, by id; another site (or no such site) is a field
    error: a filter never widens what the user may see."""

    field_class = AsciiModelChoiceField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("queryset", user_sites)
        kwargs.setdefault("empty_label", _("All sites"))
        kwargs.setdefault("help_text", _("Site id (one of your sites)."))
        super().__init__(*args, **kwargs)
        # Documented as the API reads it (``by_code``); the pages' select sends the id.
        set_override(self, "field", {"type": "string", "pattern": r"^[0-9]{2}$", "example": "01",
                                     "description": "Site code (two digits, e.g. 01): one of your sites."})

    def by_code(self):
        """Name the site by its code (``?site=01``), as the API, the report and the
        exports do: a query string has no types, so the API takes the code only
        (never the id, which could be read as another site's code)."""
        self.extra["to_field_name"] = "code"
        self.__dict__.pop("_field", None)  # a form field built (and copied) before: rebuilt by code


class TextFilter(df.CharFilter):
    """Part of a text (case-insensitive), at most 100 characters."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("lookup_expr", "icontains")
        kwargs.setdefault("max_length", 100)
        super().__init__(*args, **kwargs)
        documented(self, {"type": "string", "maxLength": kwargs["max_length"]})

    def filter(self, qs, value):
        return super().filter(qs, value.strip() if isinstance(value, str) else value)


class FilterSet(df.FilterSet):
    """A list's filters: invalid values are left out of ``qs`` (their errors in
    ``errors``); ``selected`` is what the page shows as applied."""

    @property
    def selected(self):
        """{name: the value as sent} of the valid, non-empty filters."""
        self.is_valid()
        return {name: self.data.get(name) for name, value in self.form.cleaned_data.items()
                if value not in (None, "")}

    @property
    def filters_applied(self):
        """{name: parsed value} of the valid, non-empty filters (for a selector or a report)."""
        self.is_valid()
        return {name: value for name, value in self.form.cleaned_data.items() if value not in (None, "")}
