"""Hostile query strings on the list pages' filter forms (patients, adverse
events, AE listing and its CSV, audit trail, deviations, data queries): a
page (200, with the filter's error or the filter ignored), never a 500 and
never unescaped HTML."""

import pytest
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from .support import HOSTILE_STRINGS, assert_escaped, hostile_settings

pytestmark = pytest.mark.django_db

PAGES = ["patients:patient_list", "safety:ae_list", "oversight:ae_listing", "oversight:ae_listing_export",
         "oversight:audit_trail", "visits:deviation_list", "oversight:query_list"]
PARAMS = ["search", "site", "status", "diagnosis", "grade", "serious", "relatedness", "outcome", "review",
          "patient", "record_type", "user", "date_from", "date_to", "action", "kind", "open", "page"]


@hostile_settings(40)
@given(name=st.sampled_from(PAGES),
       params=st.dictionaries(st.sampled_from(PARAMS), st.one_of(st.sampled_from(HOSTILE_STRINGS),
                                                                 st.text(max_size=20)), min_size=1, max_size=4))
def test_filters(browser, world, name, params):
    response = browser("admin").get(reverse(name), params)
    assert response.status_code in (200, 404), (name, params, response.status_code)  # 404: a page beyond the last
    if not response.streaming:
        assert_escaped(response)
    else:
        b"".join(response.streaming_content)
