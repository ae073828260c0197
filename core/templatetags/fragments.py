"""``{% cache 600 name form|fragment_key %}``: fragment caching for a form's fields.

The key holds everything the fields' HTML depends on beyond the form's class (its widgets, labels
and choices, fixed in code): the prefix, whether the form is bound, and per field its name, value,
whether it is required, and its errors. The same key therefore means the same HTML, and any change
of a value, a required flag or an error gives a new key: a cached fragment is never stale. A
template that caches a form's fields this way must show nothing else in the cached block.
"""

from django import template
from django.utils.translation import get_language

register = template.Library()


@register.filter
def fragment_key(form):
    # The language too: labels, help texts, error messages and the values' formats (dd/mm/yyyy,
    # decimal commas) follow it.
    return repr((get_language(), type(form).__module__, type(form).__qualname__, form.prefix, form.is_bound,
                 form.use_required_attribute,
                 [(field.html_name, field.value(), field.field.required, list(field.errors))
                  for field in form]))
