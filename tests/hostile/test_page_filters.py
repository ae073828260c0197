"""Hostile query strings on the list pages' filter forms (patients, adverse
events, AE listing and its CSV, audit trail, deviations, data queries): a
page (200, with the filter's error or the filter ignored), never a 500 and
never unescaped HTML."""

import pytest
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from .support import HOSTILE_STRINGS, LOOK_ALIKE_DIGITS, assert_escaped, hostile_settings

pytestmark = pytest.mark.django_db

PAGES = ["patients:patient_list", "safety:ae_list", "oversight:ae_listing", "oversight:ae_listing_export",
         "oversight:audit_trail", "visits:deviation_list", "oversight:query_list"]
PARAMS = ["search", "site", "status", "diagnosis", "grade", "serious", "relatedness", "outcome", "review",
          "patient", "record_type", "user", "date_from", "date_to", "action", "kind", "open", "page"]


FILTER_VALUE = st.one_of(st.sampled_from(HOSTILE_STRINGS), st.sampled_from(LOOK_ALIKE_DIGITS),
                         st.text(max_size=20), st.text(st.characters(categories=("Nd", "No", "Nl")), max_size=3))


@hostile_settings(60)
@given(name=st.sampled_from(PAGES),
       params=st.dictionaries(st.sampled_from(PARAMS), FILTER_VALUE, min_size=1, max_size=4))
def test_filters(browser, world, name, params):
    response = browser("admin").get(reverse(name), params)
    assert response.status_code in (200, 404), (name, params, response.status_code)  # 404: a page beyond the last
    if not response.streaming:
        assert_escaped(response)
    else:
        b"".join(response.streaming_content)


@hostile_settings(30)
@given(params=st.dictionaries(st.sampled_from(["patient", "cycle"]), FILTER_VALUE, min_size=1, max_size=2))
def test_query_raise_page(browser, world, params):
    """?patient= and ?cycle= of the raise-a-query page: the page, a 403 (no valid
    patient) or a 404 (no such patient or cycle), never a 500."""
    response = browser("monitor").get(reverse("oversight:query_create"), params)
    assert response.status_code in (200, 403, 404), (params, response.status_code)


@hostile_settings(30)
@given(params=st.dictionaries(st.sampled_from(["site", "diagnosis", "format"]), FILTER_VALUE, min_size=1,
                              max_size=3))
def test_export_download(browser, world, params):
    """An export's query: the file, or a 400 that says why nothing was exported."""
    response = browser("coordinator").get(reverse("exchange:export_download"), params)
    assert response.status_code in (200, 400), (params, response.status_code)
    if response.status_code == 200:
        b"".join(response.streaming_content)


# --- Issue 12, finding 7: the cases of the report, by name -----------------------------------

@pytest.mark.parametrize("name", ["visits:deviation_list", "safety:ae_list", "oversight:query_list"])
@pytest.mark.parametrize("param", ["patient", "site"])
@pytest.mark.parametrize("value", ["\u00b2", "\u0662", "\uff11", "99999999999999999999", "\x00"])
@pytest.mark.req("URS-SEC-002")
def test_non_ascii_digits_are_an_ignored_filter(browser, world, name, param, value):
    response = browser("admin").get(reverse(name), {param: value})
    assert response.status_code == 200
    assert param in response.context["filter_errors"]
    assert "Filter ignored" in response.content.decode()


@pytest.mark.parametrize("value", ["\u00b2", "\u0661", "\x00", "1" * 30])
def test_query_raise_page_with_a_non_ascii_patient_is_refused(browser, world, value):
    assert browser("monitor").get(reverse("oversight:query_create"), {"patient": value}).status_code == 403
    response = browser("monitor").get(reverse("oversight:query_create"),
                                      {"patient": world.patient.pk, "cycle": value})
    assert response.status_code == 200 and response.context["patient"] == world.patient


@pytest.mark.parametrize("site", ["\x00", "\u00b2", "\uff10\uff11", "99"])
def test_export_with_an_invalid_site_exports_nothing(browser, world, site):
    from reporting.models import ExportLog

    response = browser("coordinator").get(reverse("exchange:export_download"), {"format": "csv", "site": site})
    assert response.status_code == 400
    assert "Nothing was exported" in response.content.decode()
    assert not ExportLog.objects.exists()
