"""``{% field_cell form.weight_kg "col-6" %}``: one bound field as ``includes/_field.html`` renders
it (label, widget, error messages), written in Python: the record-cycle page has 51 fields, and the
include (a template, a context push, a dozen variable lookups per field) cost more than the rest
of the page. Keep the two in step."""

from django import template
from django.utils.html import conditional_escape, escape
from django.utils.safestring import mark_safe
from django.utils.text import capfirst

register = template.Library()


@register.simple_tag
def field_cell(field, css=""):
    label = escape(capfirst(field.label))
    errors = "".join(f'<div class="invalid-feedback d-block" id="error_{escape(field.html_name)}">'
                     f"{conditional_escape(error)}</div>" for error in field.errors)
    if getattr(field.field.widget, "input_type", None) == "checkbox":
        body = (f'<div class="form-check">{field} <label class="form-check-label" '
                f'for="{escape(field.id_for_label)}">{label}</label></div>')
    else:
        widget = field.as_widget() if field.errors else str(field)
        body = (f'<label class="form-label small mb-0" for="{escape(field.id_for_label)}">{label}'
                f'{"*" if field.field.required else ""}</label>\n  {widget}')
    return mark_safe(f'<div class="mb-2 {escape(css)}">\n  {body}\n  {errors}\n</div>')
