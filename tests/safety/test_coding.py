"""Coded adverse events (issue 17, point 5): the term as reported is kept, the coded term
is a CTCAE v5.0 dictionary entry whose facts (LLT, PT, SOC and their codes) the event
stores at coding; recoding is an edit with a reason; a later dictionary load changes no
coded event."""

from datetime import date

import pytest
from django.urls import reverse

from coding.models import CTCAE_V5, MeddraTerm
from coding.selectors import term_by_llt_code
from coding.services import ctcae_load
from safety import rules, services
from safety.models import AdverseEvent
from tests.api.conftest import api_for, codes_of  # noqa: F401  (the fixture)
from tests.patients.factories import PatientFactory

pytestmark = pytest.mark.django_db

ONSET = date(2025, 3, 18)
HEADACHE, CHILLS, MENINGISMUS = "10019211", "10008531", "10027198"


@pytest.fixture
def patient(site_a):
    ctcae_load()  # idempotent (the migration loaded it; a transactional test may have flushed it)
    return PatientFactory(site=site_a, subject_id="01-001", consent_date=date(2025, 3, 1),
                          enrolment_date=date(2025, 3, 10))


def form_post(**overrides):
    data = {"term": "Bad headache after the drip", "onset_date": ONSET.isoformat(), "grade": "1",
            "relatedness": "probable", "action_taken": "none", "outcome": "recovering"}
    data.update(overrides)
    return data


def event_for(patient, code=None, term="Headache"):
    return services.adverse_event_save(event=AdverseEvent(
        patient=patient, term=term, onset_date=ONSET, grade=1, relatedness="probable", outcome="recovering",
        coded_term=term_by_llt_code(code) if code else None))


def stored(event):
    event.refresh_from_db()
    return {name: getattr(event, name) for name in rules.CODED_FIELDS}


@pytest.mark.req("URS-PRT-012")
def test_the_form_codes_the_event_and_keeps_the_verbatim_term(client_for, clinician, patient):
    client = client_for(clinician)
    page = client.get(reverse("safety:ae_create", args=[patient.pk])).content.decode()
    assert "Headache · 10019211 · Nervous system disorders" in page
    assert "js/term_filter.js" in page
    headache = term_by_llt_code(HEADACHE)
    response = client.post(reverse("safety:ae_create", args=[patient.pk]), form_post(coded_term=headache.pk))
    assert response.status_code == 302
    event = AdverseEvent.objects.get()
    assert event.term == "Bad headache after the drip"
    assert stored(event) == {"meddra_llt_name": "Headache", "meddra_llt_code": HEADACHE,
                             "meddra_pt_name": "Headache", "meddra_pt_code": HEADACHE,
                             "meddra_soc_name": "Nervous system disorders", "meddra_soc_code": "10029205",
                             "meddra_source": CTCAE_V5}
    detail = client.get(reverse("safety:ae_detail", args=[patient.pk, event.pk])).content.decode()
    assert "Nervous system disorders" in detail and "10019211" in detail


def test_an_uncoded_event_is_to_code_on_the_list(client_for, monitor, patient):
    coded, uncoded = event_for(patient, HEADACHE), event_for(patient, term="Odd feeling")
    client = client_for(monitor)
    page = client.get(reverse("safety:ae_list")).content.decode()
    assert "ae-to-code" in page and "Headache" in page
    worklist = client.get(reverse("safety:ae_list"), {"coded": "0"}).context["adverse_events"]
    assert [e.pk for e in worklist] == [uncoded.pk]
    assert coded.is_coded and not uncoded.is_coded


def test_recoding_is_an_edit_with_a_reason(client_for, clinician, patient):
    event = event_for(patient, HEADACHE)
    url = reverse("safety:ae_update", args=[patient.pk, event.pk])
    client = client_for(clinician)
    chills = term_by_llt_code(CHILLS)
    response = client.post(url, form_post(coded_term=chills.pk, expected_version=event.version))
    assert "change_reason" in response.context["form"].errors
    assert stored(event)["meddra_llt_code"] == HEADACHE
    response = client.post(url, form_post(coded_term=chills.pk, expected_version=event.version,
                                          change_reason="Recoded: the patient reported rigors"))
    assert response.status_code == 302
    facts = stored(event)
    assert (facts["meddra_llt_name"], facts["meddra_llt_code"], facts["meddra_soc_code"]) == (
        "Chills", CHILLS, "10018065")
    latest = event.history.latest()
    assert latest.history_change_reason == "Recoded: the patient reported rigors"
    assert latest.meddra_llt_code == CHILLS and event.history.earliest().meddra_llt_code == HEADACHE


@pytest.mark.req("URS-PRT-012")
def test_a_later_dictionary_change_does_not_change_a_coded_event(patient):
    event = event_for(patient, MENINGISMUS)
    before = stored(event)
    MeddraTerm.objects.filter(source=CTCAE_V5, llt_code=MENINGISMUS).update(
        pt_code="99000301", pt_name="Synthetic PT", soc_name="Renamed SOC")
    event.grade = 2
    services.adverse_event_save(event=event, reason="Regraded")
    assert stored(event) == before
    ctcae_load()  # the file's values back, but the PT given by a (here: simulated) MedDRA load stays
    assert term_by_llt_code(MENINGISMUS).soc_name == "Nervous system disorders"


def test_a_term_no_longer_current_cannot_be_chosen_but_stays_on_its_events(patient):
    event = event_for(patient, MENINGISMUS)
    term = term_by_llt_code(MENINGISMUS)
    MeddraTerm.objects.filter(pk=term.pk).update(current=False)
    event.grade = 2
    services.adverse_event_save(event=event, reason="Regraded")  # same coding: accepted
    other = AdverseEvent(patient=patient, term="Stiff neck", onset_date=ONSET, grade=1, relatedness="possible",
                         outcome="recovering", coded_term=term)
    with pytest.raises(Exception) as refused:
        services.adverse_event_save(event=other)
    assert refused.value.message_dict == {
        "coded_term": ["This dictionary term is no longer current: choose a current one."]}


def test_uncoding_clears_the_facts(patient):
    event = event_for(patient, HEADACHE)
    event.coded_term = None
    services.adverse_event_save(event=event, reason="Coding withdrawn: to review")
    assert set(stored(event).values()) == {""}


# --- API --------------------------------------------------------------------------------------

def api_json(patient, **overrides):
    data = {"patient": patient.pk, "term": "Shivering during the infusion", "onset_date": ONSET.isoformat(),
            "grade": 1, "relatedness": "probable", "action_taken": "none", "outcome": "recovering"}
    data.update(overrides)
    return data


def test_the_api_codes_by_llt_code_and_exposes_the_facts_read_only(api_for, clinician, patient):  # noqa: F811
    client = api_for(clinician)
    response = client.post("/api/v1/adverse-events/", api_json(patient, coded_term=CHILLS), format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["coded_term"] == CHILLS and body["term"] == "Shivering during the infusion"
    assert (body["meddra_llt_name"], body["meddra_soc_name"], body["meddra_source"]) == (
        "Chills", "General disorders and administration site conditions", CTCAE_V5)
    # The stored facts cannot be written.
    event = AdverseEvent.objects.get()
    client.patch(f"/api/v1/adverse-events/{event.pk}/", {"meddra_llt_name": "Forged", "version": event.version,
                                                         "change_reason": "x"}, format="json")
    assert stored(event)["meddra_llt_name"] == "Chills"
    listed = client.get("/api/v1/adverse-events/").json()
    rows = listed["results"] if isinstance(listed, dict) else listed
    assert rows[0]["coded_term"] == CHILLS


@pytest.mark.parametrize("value, code", [("10019", "invalid"), ("abcdefgh", "invalid"), (True, "invalid"),
                                         ("99999999", "unknown")])
def test_the_api_refuses_a_bad_llt_code_with_a_field_error(api_for, clinician, patient, value, code):  # noqa: F811
    response = api_for(clinician).post("/api/v1/adverse-events/", api_json(patient, coded_term=value),
                                       format="json")
    assert response.status_code == 400
    assert codes_of(response) == {"coded_term": [code]}
    assert not AdverseEvent.objects.exists()


def test_the_api_accepts_an_uncoded_event(api_for, clinician, patient):  # noqa: F811
    response = api_for(clinician).post("/api/v1/adverse-events/", api_json(patient, coded_term=None),
                                       format="json")
    assert response.status_code == 201 and response.json()["coded_term"] is None
