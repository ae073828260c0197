"""Widget HTML without the template engine, for the pages that render many fields.

Django renders every widget through templates (``input.html`` includes ``attrs.html``; a select
includes ``select_option.html`` once per option): about 0.3 ms a field, most of the record-cycle
page's time (51 fields). ``FastWidgetRenderer`` writes the same HTML, byte for byte, in Python for
the built-in input, select and textarea templates, and hands anything else (other widgets, form
and field templates, values whose display depends on localisation) to the template engine, as
Django's default renderer would. Use it per form: ``default_renderer = FastWidgetRenderer()`` on
the class, or ``renderer=`` when constructing one.
"""

from html import escape as html_escape

from django.forms.models import ModelChoiceIteratorValue
from django.forms.renderers import DjangoTemplates
from django.utils.functional import Promise
from django.utils.safestring import SafeData

_INPUT_TEMPLATES = frozenset(
    f"django/forms/widgets/{name}.html"
    for name in ("input", "text", "number", "email", "url", "password", "hidden", "date", "datetime",
                 "time", "checkbox", "search", "tel", "color")
)
_SELECT = "django/forms/widgets/select.html"
_OPTION = "django/forms/widgets/select_option.html"
_TEXTAREA = "django/forms/widgets/textarea.html"


def escape(value):
    """django.utils.html.escape without its lazy-string wrapper (a third of its time)."""
    return html_escape(str(value))


class _Unsupported(Exception):
    """A value whose template rendering this module does not reproduce: use the template."""


def _formatted(value):
    """``{{ value|stringformat:'s' }}``: '%s', escaped unless already safe."""
    if isinstance(value, SafeData):
        return str(value)
    if isinstance(value, (str, int, ModelChoiceIteratorValue)):  # '%s' of a bool: True, False
        return escape(value)
    raise _Unsupported


def _text(value):
    """``{{ value }}``: strings only (numbers, dates and times would be localised)."""
    if isinstance(value, SafeData):
        return str(value)
    if isinstance(value, (str, Promise)):  # a Promise: a lazy translation
        return escape(value)
    raise _Unsupported


def _attrs(attrs):
    """``attrs.html``."""
    out = []
    for name, value in attrs.items():
        if value is False:
            continue
        out.append(f" {_text(name)}" if value is True else f' {_text(name)}="{_formatted(value)}"')
    return "".join(out)


def _input(widget):
    value = widget["value"]
    value = "" if value is None else f' value="{_formatted(value)}"'
    return (f'<input type="{_text(widget["type"])}" name="{_text(widget["name"])}"{value}'
            f'{_attrs(widget["attrs"])}>')


def _select(widget):
    parts = [f'<select name="{_text(widget["name"])}"{_attrs(widget["attrs"])}>']
    for group_name, group_choices, _index in widget["optgroups"]:
        if group_name:
            parts.append(f'\n  <optgroup label="{_text(group_name)}">')
        for option in group_choices:
            if option["template_name"] != _OPTION:
                raise _Unsupported
            parts.append(f'\n  <option value="{_formatted(option["value"])}"{_attrs(option["attrs"])}>'
                         f'{_text(option["label"])}</option>\n')  # the option template's last newline
        if group_name:
            parts.append("\n  </optgroup>")
    parts.append("\n</select>")
    return "".join(parts)


def _textarea(widget):
    value = widget["value"]
    return (f'<textarea name="{_text(widget["name"])}"{_attrs(widget["attrs"])}>\n'
            f'{_text(value) if value else ""}</textarea>')


class FastWidgetRenderer(DjangoTemplates):
    """Django's default form renderer, with the common widget templates written in Python."""

    def render(self, template_name, context, request=None):
        try:
            if template_name in _INPUT_TEMPLATES and "type" in context["widget"]:
                return _input(context["widget"])
            if template_name == _SELECT:
                return _select(context["widget"])
            if template_name == _TEXTAREA:
                return _textarea(context["widget"])
        except _Unsupported:
            pass
        return super().render(template_name, context, request=request)
