"""Pages are rendered by templates (issue 13): no HTML written in Python, the record-cycle page's
fields through Django's Jinja2 form renderer (core/renderers.py, the same HTML as Django's own
widget templates, escaped), and the fragment caches of the patient list and the record-cycle page
keyed on what they show, so never stale."""

import html
import importlib
import re
from pathlib import Path

import pytest
from django.forms.renderers import DjangoTemplates
from django.urls import reverse

from core.renderers import FieldRenderer
from patients.filters import PatientFilterSet
from patients.forms import PatientForm
from patients.models import Patient
from tests.patients.factories import PatientFactory
from tests.visits.factories import full_cycle
from visits.forms import CycleEntry
from visits.models import TreatmentCycle

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
BAD = {"cycle-weight_kg": 'a<b>&"\'', "cycle-dosing_basis": "nope", "assessment-mmt_deltoid": "99",
       "day1-product": "<i>", "day1-lot": '"><script>', "day2-start_time": "25:00"}


def test_no_html_is_written_in_python():
    """The renderers that wrote HTML in Python are gone, and no view, form, template tag or core
    module marks a string safe or writes table or form markup."""
    for module in ("core.widget_rendering", "visits.templatetags.field_cells"):
        with pytest.raises(ModuleNotFoundError):
            importlib.import_module(module)
    paths = [p for pattern in ("*/views*.py", "*/views/*.py", "*/forms.py", "*/forms/*.py",
                               "*/templatetags/*.py", "core/**/*.py")
             for p in ROOT.glob(pattern) if ".venv" not in p.parts and "tests" not in p.parts]
    assert any(p.name == "views.py" and p.parent.name == "patients" for p in paths)
    markup = re.compile(r"""mark_safe|format_html|SafeString\(|["'][^"'\n]*<(td|tr|th|input|select|option|textarea|label|div|span|a)[\s>]""")
    offenders = [f"{p.relative_to(ROOT)}:{n}" for p in paths
                 for n, line in enumerate(p.read_text().splitlines(), 1) if markup.search(line)]
    assert offenders == []


def _entries(patient):
    cycle = full_cycle(patient, number=1)
    invalid = CycleEntry(BAD, patient=patient)
    invalid.is_valid()
    return [CycleEntry(patient=patient, cycle=cycle), CycleEntry(patient=patient), invalid]


def _patient_filters(data, sites):
    form = PatientFilterSet(data, queryset=Patient.objects.none()).form
    form.fields["site"].queryset = sites
    return form


def _same(markup):
    """Markup up to entity spelling (&#34; or &quot;) and the blank lines between options."""
    return re.sub(r">\s+<", "><", html.unescape(markup))


def test_cycle_fields_are_django_widgets_escaped(site_a):
    """Jinja2's widgets are Django's widget templates: the same markup as the Django template
    language's, every hostile value escaped."""
    patient = PatientFactory(site=site_a)
    forms = [form for entry in _entries(patient) for form in entry.forms.values()]
    filters = _patient_filters({"search": '<b>"&'}, type(site_a).objects.all())
    filters.is_valid()
    compared = 0
    for form in forms + [filters, PatientForm(instance=patient)]:
        for field in form:
            form.renderer = FieldRenderer()
            fast = str(field)
            form.renderer = DjangoTemplates()
            assert _same(fast) == _same(str(field)), field.name
            assert "<script>" not in fast and "<b>" not in fast and "<i>" not in fast
            compared += 1
    assert compared > 100


def test_cycle_field_groups(site_a):
    """A field group: label (starred when required), widget, each error with its id."""
    entry = CycleEntry(BAD, patient=PatientFactory(site=site_a))
    entry.is_valid()
    group = entry["cycle"]["weight_kg"].as_field_group()
    assert '<label class="form-label small mb-0" for="id_cycle-weight_kg">Weight (kg)*</label>' in group
    assert 'name="cycle-weight_kg"' in group and 'aria-invalid="true"' in group
    # A red border, and the error text named by the input (aria-describedby) with the id Django gives it.
    assert re.search(r'<input [^>]*class="form-control form-control-sm is-invalid"', group)
    assert 'aria-describedby="id_cycle-weight_kg_helptext id_cycle-weight_kg_error"' in group
    assert 'id="id_cycle-weight_kg_helptext">Measured at this visit.</div>' in group
    assert '<div class="invalid-feedback d-block" id="id_cycle-weight_kg_error">' in group
    valid = entry["cycle"]["height_cm"].as_field_group()
    assert "is-invalid" not in valid and "aria-invalid" not in valid
    assert "a&lt;b&gt;&amp;" in group


def _cell(page, patient_pk):
    """The patient list's status cell of a patient."""
    row = re.search(rf'<a href="/patients/{patient_pk}/">.*?</tr>', page, re.S).group(0)
    return re.findall(r"<td>([^<]*)</td>", row)[-1]


def test_patient_list_rows_are_never_stale(client_for, monitor, site_a):
    """The rows' HTML is cached under the rows' values: a change made behind the page's back (a
    plain UPDATE: no history row, no version bump) shows at once."""
    patient = PatientFactory(site=site_a, subject_id="01-001", status="on_study")
    client = client_for(monitor)
    url = reverse("patients:patient_list")
    assert _cell(client.get(url).content.decode(), patient.pk) == "On study"
    assert _cell(client.get(url).content.decode(), patient.pk) == "On study"  # from the cache
    Patient.objects.filter(pk=patient.pk).update(status="completed")
    assert _cell(client.get(url).content.decode(), patient.pk) == "Completed"
    PatientFactory(site=site_a, subject_id="01-000")
    assert client.get(url).content.decode().count("<td><a href=") == 2


def test_cycle_form_fields_are_never_stale(client_for, clinician, site_a):
    """The record-cycle fields are cached under their values, required flags and errors: the new
    form, the edit form after a change, a refused post each show their own values."""
    patient = PatientFactory(site=site_a)
    client = client_for(clinician)
    new = client.get(reverse("visits:cycle_create", args=[patient.pk])).content.decode()
    weight = re.search(r'<input[^>]*name="cycle-weight_kg"[^>]*>', new).group(0)
    assert "value=" not in weight and 'inputmode="decimal"' in weight  # no value
    cycle = full_cycle(patient, number=1)
    edit_url = reverse("visits:cycle_update", args=[patient.pk, 1])
    assert f'value="{cycle.weight_kg}"' in client.get(edit_url).content.decode()
    TreatmentCycle.objects.filter(pk=cycle.pk).update(weight_kg="81.5", version=cycle.version + 1)
    edit = client.get(edit_url).content.decode()
    assert 'value="81.5"' in edit and f'name="cycle-expected_version" value="{cycle.version + 1}"' in edit
    refused = client.post(reverse("visits:cycle_create", args=[patient.pk]), BAD).content.decode()
    assert 'value="a&lt;b&gt;&amp;&#34;&#39;"' in refused and 'id="id_cycle-weight_kg_error"' in refused
    again = client.get(reverse("visits:cycle_create", args=[patient.pk])).content.decode()
    assert "a&lt;b&gt;" not in again and 'id="id_cycle-weight_kg_error"' not in again


def test_templates_are_compiled_once():
    """The cached template loader (Django's default without a "loaders" option) and the Jinja2
    form renderer with autoescaping."""
    from django.template import engines

    assert engines["django"].engine.loaders[0][0] == "django.template.loaders.cached.Loader"
    assert FieldRenderer().engine.env.autoescape is True
