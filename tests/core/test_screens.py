"""Issue 14, item 7, without a browser: the error pages, the icon, one date format,
the date inputs, the active menu item and the zone named once per page."""

import re
from datetime import date, datetime
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from django import forms
from django.contrib.staticfiles import finders
from django.db import OperationalError
from django.db.backends.base.base import BaseDatabaseWrapper
from django.template import engines
from django.test import RequestFactory

from api.exceptions import server_error
from core.context_processors import nav_section
from core.forms import DateInput, DateTimeInput, TimeInput

pytestmark = pytest.mark.django_db


def main_nav(html):
    match = re.search(r'<nav [^>]*aria-label="Main".*?</nav>', html, re.S)
    assert match, "no main navigation"
    return match.group(0)


@pytest.mark.req("URS-INC-005")
def test_404_has_the_navigation_and_a_way_home(client_for, clinician):
    response = client_for(clinician).get("/patients/99999999/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "Page not found" in html
    assert 'href="/patients/"' in main_nav(html)
    assert "Log out" in html


@pytest.mark.req("URS-INC-005")
def test_403_has_the_navigation_and_the_reason(client_for, clinician):
    response = client_for(clinician).get("/oversight/audit/")
    assert response.status_code == 403
    html = response.content.decode()
    assert "Not allowed" in html and 'id="refusal"' in html
    assert 'href="/patients/"' in main_nav(html)


@pytest.mark.req("URS-INC-005")
def test_500_renders_with_the_database_down(django_assert_num_queries):
    """No query, no session, no context processor: the page shows even when the
    database is the reason for the error."""
    request = RequestFactory().get("/patients/")
    down = OperationalError("connection refused")
    with django_assert_num_queries(0), \
            mock.patch.object(BaseDatabaseWrapper, "ensure_connection", side_effect=down):
        response = server_error(request)
    assert response.status_code == 500
    html = response.content.decode()
    assert "Something went wrong on the server" in html
    assert 'href="/patients/"' in main_nav(html)
    assert 'id="main"' in html


def test_favicon_is_declared_and_answers(client, client_for, clinician):
    response = client.get("/favicon.ico")  # anonymous: browsers ask before any login
    assert response.status_code == 301
    assert response["Location"].endswith("/favicon.svg")
    assert finders.find("favicon.svg")
    html = client_for(clinician).get("/patients/").content.decode()
    assert '<link rel="icon" href="/static/favicon.svg"' in html


@pytest.mark.req("URS-USR-003")
def test_every_page_has_a_skip_link_and_names_the_zone_once(client_for, clinician):
    html = client_for(clinician).get("/patients/").content.decode()
    assert '<a class="visually-hidden-focusable skip-link" href="#main">Skip to main content</a>' in html
    assert '<main class="container-fluid px-3 px-md-4" id="main"' in html
    assert html.count("Times are Europe/Paris") == 1
    assert "UTC" not in html


@pytest.mark.parametrize(("path", "section"), [
    ("/oversight/", "home"), ("/patients/", "patients"), ("/patients/12/timeline/", "patients"),
    ("/patients/new/", "enrol"), ("/safety/patients/3/adverse-events/new/", "patients"),
    ("/safety/adverse-events/", "adverse_events"), ("/oversight/queries/7/", "queries"),
    ("/oversight/adverse-events/listing/", "sae_review"), ("/oversight/audit/signatures/", "audit_trail"),
    ("/reports/", "report"), ("/exports/", "exports"), ("/api/token/", "account"),
    ("/oversight/cycles/3/sign/", ""),
])
def test_nav_section(path, section):
    assert nav_section(path) == section


def test_the_active_menu_item_is_marked(client_for, clinician):
    nav = main_nav(client_for(clinician).get("/patients/").content.decode())
    assert re.search(r'<a class="nav-link active" href="/patients/" aria-current="page">Patients</a>', nav)
    assert nav.count('aria-current="page"') == 1


@pytest.mark.req("URS-AUD-007")
def test_dates_and_times_render_as_iso_8601(settings):
    settings.TIME_ZONE = "Europe/Paris"
    template = engines["django"].from_string("{{ d }}|{{ t }}|{{ d|date }}|{{ t|date:'SHORT_DATETIME_FORMAT' }}")
    moment = datetime(2026, 12, 2, 6, 18, tzinfo=ZoneInfo("UTC"))
    assert template.render({"d": date(2026, 12, 2), "t": moment}) == "2026-12-02|2026-12-02 07:18|2026-12-02|2026-12-02 07:18"


class DatesForm(forms.Form):
    day = forms.DateField(widget=DateInput())
    moment = forms.DateTimeField(widget=DateTimeInput(), required=False)
    at = forms.TimeField(widget=TimeInput(), required=False)


def test_date_inputs_show_and_take_iso():
    html = str(DatesForm(initial={"day": date(2026, 12, 2)})["day"])
    for attribute in ('type="text"', 'value="2026-12-02"', 'placeholder="YYYY-MM-DD"', 'inputmode="numeric"',
                      'autocomplete="off"', 'pattern="\\d{4}-\\d{2}-\\d{2}"'):
        assert attribute in html, (attribute, html)
    assert 'type="date"' not in html
    moment = str(DatesForm(initial={"moment": datetime(2026, 12, 2, 7, 18)})["moment"])
    assert 'value="2026-12-02 07:18"' in moment and 'placeholder="YYYY-MM-DD HH:MM"' in moment
    assert 'placeholder="HH:MM"' in str(DatesForm()["at"])

    form = DatesForm(data={"day": "2026-12-02", "moment": "2026-12-02 07:18", "at": "14:05"})
    assert form.is_valid(), form.errors
    assert form.cleaned_data["day"] == date(2026, 12, 2)
    for other in ("12/02/2026", "02/12/2026", "2 Dec 2026"):
        form = DatesForm(data={"day": other})
        assert not form.is_valid() and "day" in form.errors, other


def test_every_form_date_field_uses_the_iso_widget():
    """The forms of the apps: no DateField left with the browser's date picker."""
    from oversight.forms_ae import FollowUpForm
    from oversight.views_audit import AuditTrailFilterForm
    from patients import forms as patient_forms
    from safety.forms import AdverseEventForm
    from visits import forms as visit_forms

    classes = [AdverseEventForm, FollowUpForm, AuditTrailFilterForm]
    for module in (patient_forms, visit_forms):
        classes += [c for c in vars(module).values() if isinstance(c, type) and issubclass(c, forms.BaseForm)]
    checked = 0
    for form_class in classes:
        if form_class.__name__ == "CyclePreviewForm":  # reads the cycle page's fields for the preview; never rendered
            continue
        for name, field in form_class.base_fields.items():
            if isinstance(field, (forms.DateField, forms.DateTimeField, forms.TimeField)):
                checked += 1
                assert isinstance(field.widget, (DateInput, DateTimeInput, TimeInput)), (form_class, name)
    assert checked >= 10
