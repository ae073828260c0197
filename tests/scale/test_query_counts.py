"""Issue 8: each page, API list and export runs the same number of queries at 10
and at 1,000 patients (a synthetic cohort from ``generate_cohort``), pinned exactly."""

from collections import Counter

import pytest

from tests.scale.conftest import LARGE, SMALL
from tests.scale.pages import NAMES

pytestmark = pytest.mark.django_db  # the test database is set up for marked tests only

#: Queries per request, whatever the cohort size (login, session and permission
#: queries included, the content-type cache cold).
EXPECTED = {
    "patient-list": 9, "patient-detail": 10, "timeline": 14, "deviation-list": 9, "report": 15,
    "audit-trail": 14,  # one patient's trail; as admin, with the banner of locked accounts (1 query)
    "api:patients": 6, "api:diagnoses": 6, "api:malignancies": 6, "api:cycles": 8, "api:assessments": 6,
    "api:infusions": 6, "api:adverse-events": 6, "api:deviations": 6,
    "api:data-queries": 5,  # the generated cohort has no data query: no messages prefetch
    # Exports through the download view, body consumed (ODM: one patient chunk, see conftest).
    "export:csv": 22, "export:xlsx": 22, "export:odm": 33, "export:sdtm": 27, "export:fhir": 22,
}


def _diff(small, large):
    """The queries one run has and the other has not, for the failure message."""
    only_large = list((Counter(large.sql) - Counter(small.sql)).elements())
    only_small = list((Counter(small.sql) - Counter(large.sql)).elements())
    return "\n".join(["only at the large size:"] + [q[:300] for q in only_large[:10]]
                     + ["only at the small size:"] + [q[:300] for q in only_small[:10]])


@pytest.mark.parametrize("name", NAMES)
def test_query_count_is_constant(scale, name):
    errors = {k: v for k, v in scale.errors.items() if k.startswith(f"{name}@")}
    assert not errors, errors
    small, large = scale.small[name], scale.large[name]
    assert small.detail.get("status") == large.detail.get("status") == 200, (small.detail, large.detail)
    assert small.count == large.count, f"{name}: {small.count} queries at {SMALL}, {large.count} at " \
                                       f"{LARGE}; extra:\n{_diff(small, large)}"
    assert large.count == EXPECTED.get(name), f"{name}: {large.count} queries"
