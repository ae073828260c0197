"""The form renderer of the pages that show many fields (the record-cycle page: 51).

Django renders each widget through a template; with the Django template language that is most of
such a page's time. ``FieldRenderer`` is Django's own Jinja2 form renderer
(``django.forms.renderers.Jinja2``: Django's widget templates, written for Jinja2, the same HTML),
with one field-group template of ours, ``core/jinja2/forms/field.html`` (label, widget, errors),
for ``{{ form.field.as_field_group }}``. Jinja2 compiles templates to Python functions and escapes
every value, as Django's templates do (``autoescape`` is on in Django's Jinja2 backend).

Use it per form: ``default_renderer = FieldRenderer()`` on the form class.
"""

from django.forms.renderers import Jinja2


class FieldRenderer(Jinja2):
    field_template_name = "forms/field.html"
