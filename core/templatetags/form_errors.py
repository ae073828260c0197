"""``{% include "includes/_error_summary.html" with errors=form|error_summary %}``: the error
summary at the top of a form page (core.forms.error_summary)."""

from django import template

from core.forms import error_summary as summary

register = template.Library()


@register.filter
def error_summary(form):
    return summary(form) if form is not None else []
