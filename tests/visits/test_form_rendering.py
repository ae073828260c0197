"""The record-cycle page renders its fields in Python (core.widget_rendering, the field_cell
tag): the same HTML as Django's widget templates and ``includes/_field.html``."""

import re

import pytest
from django.forms.renderers import DjangoTemplates
from django.template.loader import render_to_string

from core.widget_rendering import FastWidgetRenderer
from patients.filters import PatientFilterSet
from patients.forms import PatientForm
from patients.models import Patient
from tests.patients.factories import PatientFactory
from tests.visits.factories import full_cycle
from visits.forms import CycleEntry
from visits.templatetags.field_cells import field_cell

BAD = {"cycle-weight_kg": 'a<b>&"\'', "cycle-dosing_basis": "nope", "assessment-mmt_deltoid": "99",
       "day1-product": "<i>", "day1-lot": '"><script>', "day2-start_time": "25:00"}


def _entries(patient):
    cycle = full_cycle(patient, number=1)
    edit = CycleEntry(patient=patient, cycle=cycle)
    new = CycleEntry(patient=patient)
    invalid = CycleEntry(BAD, patient=patient)
    invalid.is_valid()
    return [edit, new, invalid]


def _patient_filters(data, sites):
    form = PatientFilterSet(data, queryset=Patient.objects.none()).form
    form.fields["site"].queryset = sites
    return form


def _forms(patient, site_a):
    forms = [form for entry in _entries(patient) for form in entry.forms.values()]
    filters = _patient_filters({"site": str(site_a.pk), "search": '<b>"&'}, type(site_a).objects.all())
    filters.is_valid()
    return forms + [filters, _patient_filters(None, type(site_a).objects.all()), PatientForm(instance=patient)]


@pytest.mark.django_db
def test_fast_widgets_are_the_templates_html(site_a):
    patient = PatientFactory(site=site_a)
    slow, fast, compared = DjangoTemplates(), FastWidgetRenderer(), 0
    for form in _forms(patient, site_a):
        for field in form:
            form.renderer = slow
            expected = str(field)
            form.renderer = fast
            assert str(field) == expected, field.name
            compared += 1
    assert compared > 100


def _squeeze(html):
    return re.sub(r">\s+<", "><", re.sub(r"\s+", " ", html)).strip()


@pytest.mark.django_db
def test_field_cell_is_the_field_include(site_a):
    patient = PatientFactory(site=site_a)
    for entry in _entries(patient):
        for form in entry.forms.values():
            for field in form:
                for css in ("", "col-6"):
                    expected = render_to_string("includes/_field.html", {"field": field, "css": css})
                    assert _squeeze(field_cell(field, css)) == _squeeze(expected), field.name
