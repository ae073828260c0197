"""Each list runs a constant number of queries whatever the number of rows."""

from datetime import date

import pytest

from review.services import query_answer, query_raise
from safety.models import AdverseEvent
from tests.patients.factories import DiagnosisFactory, MalignancyFactory, PatientFactory
from tests.visits.factories import full_cycle
from visits.services import deviations_refresh

pytestmark = pytest.mark.django_db

#: Queries per list: token + user (knox, one query), the user's memberships
#: (site scope), the permissions of the user's roles (one query: issue 12, they
#: come from the roles' groups only, no longer user perms + group perms), the
#: count, the page; then the prefetches of the collection (cycles: infusions and
#: open deviations; data queries: their messages).
EXPECTED = {
    "patients": 5,
    "diagnoses": 5,
    "malignancies": 5,
    "cycles": 7,
    "assessments": 5,
    "infusions": 5,
    "adverse-events": 5,
    "deviations": 5,
    "data-queries": 6,
}


def cohort(site, monitor, size, site_staff):
    for n in range(1, size + 1):
        patient = PatientFactory(site=site, subject_id=f"01-{n:03d}")
        DiagnosisFactory(patient=patient)
        MalignancyFactory(patient=patient)
        for number in (1, 2):
            cycle = full_cycle(patient, number=number, day2_dose=60)
            deviations_refresh(cycle=cycle, reason="entry")
        AdverseEvent.objects.create(patient=patient, term="Headache", onset_date=date(2025, 3, 18), grade=1,
                                    relatedness="possible", outcome="recovered")
        query = query_raise(record=patient, field_name="", field_label="", record_label=patient.subject_id,
                            question="Check the consent form.", user=monitor)
        query_answer(query=query, user=site_staff, text="Checked.")  # the site answers (issue 12)


@pytest.mark.parametrize("size", [1, 4])
@pytest.mark.parametrize("collection", sorted(EXPECTED))
@pytest.mark.req("URS-USR-002")
def test_list_query_count_is_constant(api_for, clinician, monitor, site_a, collection, size,
                                      django_assert_num_queries):
    cohort(site_a, monitor, size, clinician)
    client = api_for(clinician)
    with django_assert_num_queries(EXPECTED[collection]):
        response = client.get(f"/api/v1/{collection}/")
    assert response.status_code == 200
    assert response.json()["count"] >= size
