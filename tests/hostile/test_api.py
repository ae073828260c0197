"""Hostile JSON into every write of /api/v1/ (the routes of ``api/urls.py``):
POST, PUT and PATCH of patients, diagnoses, malignancies, cycles (with the
nested assessment and infusions), assessments, infusions and adverse events;
the withdraw and void actions; raising, answering, closing and re-opening data
queries; the read-only deviations; and hostile query parameters on every list.

Property: a success (200 / 201), or a 400 in the project's error shape
``{detail, code, errors: {field: [{message, code}]}}`` (409 / 412 / 428 when
the version itself was garbled) with nothing stored changed; never a 500.
"""

import json
from decimal import Decimal

import pytest
from django.test import RequestFactory
from hypothesis import given
from hypothesis import strategies as st

from api import serializers as s
from review import services as review_services
from review.models import DataQuery
from tests.visits.factories import CycleFactory

from .support import (DATE_EDGES, HOSTILE_JSON, HOSTILE_STRINGS, NUMBER_EDGES, hostile_settings, isolated,
                      send_api, snapshot)

pytestmark = pytest.mark.django_db

N = 10
V1 = "/api/v1"
VERSION_STATUSES = (409, 412, 428)
EXTRA_KEYS = ["id", "unknown", "locked_at", "voided_at", "created_at", "status", "__proto__"]


def typed_json(example):
    """Hostile values of the JSON type (and shape) the field expects."""
    if isinstance(example, bool):
        return st.sampled_from([True, False, "true", 1, 0, None])
    if isinstance(example, int):
        return st.one_of(st.integers(min_value=-(2**70), max_value=2**70),
                         st.sampled_from([0, -1, 2**31, 2**63, 1.5, "1", True]))
    if isinstance(example, str) and len(example) == 10 and example[4:5] == "-":
        return st.sampled_from(DATE_EDGES + ["2025-02-30", "20250310", "2025-03-10T00:00:00", ""])
    if isinstance(example, str):
        try:
            Decimal(example)
        except ArithmeticError:
            return st.sampled_from(HOSTILE_STRINGS)
        return st.one_of(st.sampled_from(NUMBER_EDGES), st.decimals(places=3).map(str),
                         st.sampled_from([70, 70.5, float("nan"), float("inf"), 1e308]))
    return HOSTILE_JSON


def set_path(body, path, value):
    """Set ``a.b.0.c`` in a copy of nested dicts and lists (creating nothing)."""
    body = json.loads(json.dumps(body))
    *parents, last = path.split(".")
    node = body
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return body


def paths(body, prefix=""):
    out = {}
    for key, value in body.items():
        out[prefix + key] = value
        if isinstance(value, dict):
            out.update(paths(value, f"{prefix}{key}."))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, dict):
                    out.update(paths(item, f"{prefix}{key}.{i}."))
    return out


def api_changes(body):
    """One to three fields (nested ones too) replaced by hostile JSON, or one dropped."""
    examples = paths(body)
    for key in EXTRA_KEYS:
        examples.setdefault(key, None)
    names = sorted(examples)

    def value_for(name):
        return st.one_of(HOSTILE_JSON, typed_json(examples[name])) if examples[name] is not None else HOSTILE_JSON

    pairs = st.lists(st.sampled_from(names).flatmap(lambda n: st.tuples(st.just(n), value_for(n))),
                     min_size=1, max_size=3)
    return st.tuples(pairs.map(dict), st.sets(st.sampled_from(sorted(body)), max_size=1))


def mutate(body, changes):
    replaced, dropped = changes
    for path in sorted(replaced, key=len):
        try:
            body = set_path(body, path, replaced[path])
        except (KeyError, IndexError, TypeError, ValueError):
            pass  # a parent was replaced by a scalar first
    for key in dropped:
        if key not in replaced:
            body.pop(key, None)
    return body


def fuzz_api(client, method, url, base, examples=N, *, setup=None, ok=(200, 201)):
    """The baseline must succeed; then hostile variants."""
    with isolated():
        if setup:
            setup()
        response = send_api(client, method, url, base)
        assert response.status_code in ok, response.content[:2000]

    @hostile_settings(examples)
    @given(changes=api_changes(base), raw=st.sampled_from([None, None, None, None, "nan", "surrogate", "array",
                                                           "garbage", "deep"]))
    def run(changes, raw):
        body = mutate(base, changes)
        allowed = (200, 201, 400) + (VERSION_STATUSES if "version" in changes[0] or "version" in changes[1]
                                     else ())
        if raw == "nan":
            body = json.dumps(body, allow_nan=True).replace("{", '{"nan": NaN, ', 1)
        elif raw == "surrogate":
            body = json.dumps(body).replace("{", '{"term": "\\ud800", "notes": "\\udfff", ', 1)
        elif raw == "array":
            body = [body]
        elif raw == "garbage":
            body = json.dumps(body)[:-2]
        elif raw == "deep":
            body = '{"x": ' + "[" * 5000 + "]" * 5000 + "}"
        if raw in ("array", "garbage", "deep", "surrogate", "nan"):
            allowed += VERSION_STATUSES  # the version may be lost with the body
        with isolated():
            if setup:
                setup()
            send_api(client, method, url, body, allowed=allowed)

    run()


def record(client, url, serializer_class, user):
    """The record as GET shows it, cut to its writable fields, with version and reason."""
    response = client.get(url)
    assert response.status_code == 200
    request = RequestFactory().get("/")
    request.user = user
    fields = serializer_class(context={"request": request}).fields
    body = {k: v for k, v in response.json().items() if k in fields and not fields[k].read_only}
    body.update(version=response.json()["version"], change_reason="Corrected from the source document")
    return body


PATIENT = {"subject_id": "01-003", "sex": "M", "birth_year": 1960, "birth_date": None, "race": "ASIAN",
           "consent_date": "2025-03-01", "enrolment_date": "2025-03-10", "symptom_onset_date": "2024-12-01",
           "active_myopathy": True, "ctd_associated": False, "steroid_contraindication": False,
           "renal_risk": False, "thrombotic_risk": False, "suspected_cause": "drug",
           "suspected_cause_detail": "Statin", "status": "on_study"}
ASSESSMENT = {"assessment_date": "2025-04-14", "mmt_scale": "kendall", "ck_u_per_l": "1800.0",
              "ck_uln_u_per_l": "200.0", **{f"mmt_{g}": 7 for g in (
                  "neck_flexors", "deltoid", "biceps", "wrist_extensors", "gluteus_maximus", "gluteus_medius",
                  "quadriceps", "ankle_dorsiflexors")}}
INFUSION = {"lot": "LOT-9", "concentration_pct": "10.0", "volume_ml": "700.0", "dose_g": "70.0",
            "max_rate_ml_per_h": "150.0", "start_time": "09:00:00", "end_time": "14:00:00"}
AE = {"term": "Fever", "description": "38.5 C", "infusion": None, "onset_date": "2025-03-18",
      "end_date": "2025-03-19", "grade": 1, "serious": False, "relatedness": "probable", "action_taken": "none",
      "outcome": "recovered"}


# --- patients -------------------------------------------------------------------------------

def test_patient_create(api, world):
    fuzz_api(api("clinician"), "post", f"{V1}/patients/", {**PATIENT, "site": world.site.pk})


@pytest.mark.parametrize("method", ["patch", "put"])
def test_patient_update(api, world, method):
    url = f"{V1}/patients/{world.patient.pk}/"
    base = record(api("clinician"), url, s.PatientSerializer, world.users["clinician"])
    base["suspected_cause_detail"] = "Coxsackie B"
    fuzz_api(api("clinician"), method, url, base)


def test_patient_withdraw(api, world):
    fuzz_api(api("clinician"), "post", f"{V1}/patients/{world.patient.pk}/withdraw/",
             {"withdrawal_date": "2025-05-01", "withdrawal_reason": "Moved away", "version": 1})


# --- diagnoses and malignancies ------------------------------------------------------------------

def test_diagnosis_create(api, world):
    fuzz_api(api("clinician"), "post", f"{V1}/diagnoses/",
             {"patient": world.bare.pk, "kind": "PM", "diagnosis_date": "2025-02-01", "bp_weakness": True,
              "bp_biopsy": True, "biopsy_performed": True, "bp_enzymes": True, "bp_emg": True})


@pytest.mark.parametrize("method", ["patch", "put"])
def test_diagnosis_update(api, world, method):
    url = f"{V1}/diagnoses/{world.diagnosis.pk}/"
    base = record(api("clinician"), url, s.DiagnosisSerializer, world.users["clinician"])
    base["diagnosis_date"] = "2025-02-02"
    fuzz_api(api("clinician"), method, url, base)


def test_malignancy_create(api, world):
    fuzz_api(api("clinician"), "post", f"{V1}/malignancies/",
             {"patient": world.patient.pk, "malignancy_type": "Melanoma", "diagnosis_date": "2010-01-01",
              "status": "remission", "certainty": "probable", "notes": "Excised"})


@pytest.mark.parametrize("method", ["patch", "put"])
def test_malignancy_update(api, world, method):
    url = f"{V1}/malignancies/{world.malignancy.pk}/"
    base = record(api("clinician"), url, s.MalignancySerializer, world.users["clinician"])
    base["notes"] = "Checked"
    fuzz_api(api("clinician"), method, url, base)


@pytest.mark.parametrize("collection", ["malignancies", "assessments", "adverse-events"])
def test_void(api, world, collection):
    pk = {"malignancies": world.malignancy.pk, "assessments": world.cycle.assessment.pk,
          "adverse-events": world.event.pk}[collection]
    fuzz_api(api("clinician"), "post", f"{V1}/{collection}/{pk}/void/",
             {"void_reason": "Entered in error", "version": 1})


# --- visits --------------------------------------------------------------------------------------

@pytest.mark.req("URS-SEC-002")
def test_cycle_create(api, world):
    fuzz_api(api("clinician"), "post", f"{V1}/cycles/", {
        "patient": world.patient.pk, "number": 2, "start_date": "2025-04-14", "weight_kg": "70.0",
        "height_cm": "170.0", "dosing_basis": "actual", "assessment": ASSESSMENT,
        "infusions": [{"day": 1, "infusion_date": "2025-04-14", **INFUSION},
                      {"day": 2, "infusion_date": "2025-04-15", **INFUSION}]})


@pytest.mark.parametrize("method", ["patch", "put"])
def test_cycle_update(api, world, method):
    url = f"{V1}/cycles/{world.cycle.pk}/"
    base = record(api("clinician"), url, s.CycleSerializer, world.users["clinician"])
    base.pop("assessment", None), base.pop("infusions", None)  # create only
    base["weight_kg"] = "71.0"
    fuzz_api(api("clinician"), method, url, base)


def test_assessment_create(api, world):
    """The end-of-treatment assessment (no cycle)."""
    fuzz_api(api("clinician"), "post", f"{V1}/assessments/",
             {"patient": world.patient.pk, "cycle": None, **ASSESSMENT, "assessment_date": "2025-07-01"})


@pytest.mark.parametrize("method", ["patch", "put"])
def test_assessment_update(api, world, method):
    url = f"{V1}/assessments/{world.cycle.assessment.pk}/"
    base = record(api("clinician"), url, s.AssessmentSerializer, world.users["clinician"])
    base["ck_u_per_l"] = "2500.0"
    fuzz_api(api("clinician"), method, url, base)


def test_infusion_create(api, world):
    cycle = CycleFactory(patient=world.patient, number=2)
    fuzz_api(api("clinician"), "post", f"{V1}/infusions/",
             {"cycle": cycle.pk, "day": 1, "infusion_date": cycle.start_date.isoformat(), **INFUSION})


@pytest.mark.parametrize("method", ["patch", "put"])
def test_infusion_update(api, world, method):
    url = f"{V1}/infusions/{world.cycle.infusions.get(day=2).pk}/"
    base = record(api("clinician"), url, s.InfusionSerializer, world.users["clinician"])
    base["lot"] = "LOT-2"
    fuzz_api(api("clinician"), method, url, base)


# --- safety ---------------------------------------------------------------------------------------

def test_adverse_event_create(api, world):
    fuzz_api(api("clinician"), "post", f"{V1}/adverse-events/", {"patient": world.patient.pk, **AE})


@pytest.mark.parametrize("method", ["patch", "put"])
def test_adverse_event_update(api, world, method):
    url = f"{V1}/adverse-events/{world.event.pk}/"
    base = record(api("clinician"), url, s.AdverseEventSerializer, world.users["clinician"])
    base["description"] = "After day 1, 2 h into the infusion"
    fuzz_api(api("clinician"), method, url, base)


# --- data queries ---------------------------------------------------------------------------------

def test_query_raise(api, world):
    fuzz_api(api("monitor"), "post", f"{V1}/data-queries/",
             {"patient": world.patient.pk, "target": f"infusion:{world.cycle.infusions.get(day=1).pk}:lot",
              "question": "Lot number as on the vial label?"})


@pytest.mark.parametrize("role,action", [("clinician", "answer"), ("monitor", "close"), ("monitor", "reopen")])
def test_query_reply(api, world, role, action):
    monitor = world.users["monitor"]

    def closed():
        review_services.query_close(query=DataQuery.objects.get(pk=world.query.pk), user=monitor, text="")

    fuzz_api(api(role), "post", f"{V1}/data-queries/{world.query.pk}/{action}/", {"text": "Checked: 70 kg"},
             setup=closed if action == "reopen" else None)


def test_deviations_are_read_only(api, world):
    client = api("admin")
    before = snapshot()
    for method in ("post", "put", "patch"):
        url = f"{V1}/deviations/" if method == "post" else f"{V1}/deviations/1/"
        response = getattr(client, method)(url, {"kind": "dose"}, format="json")
        assert response.status_code in (404, 405), response.content
    assert snapshot() == before


# --- list filters -----------------------------------------------------------------------------------

COLLECTIONS = ["patients", "diagnoses", "malignancies", "cycles", "assessments", "infusions", "adverse-events",
               "deviations", "data-queries"]
PARAMS = ["site", "patient", "status", "diagnosis", "search", "kind", "cycle", "number", "timepoint", "day",
          "open", "serious", "grade", "voided", "ordering", "page", "page_size"]


@hostile_settings(60)
@given(collection=st.sampled_from(COLLECTIONS),
       params=st.dictionaries(st.sampled_from(PARAMS), st.one_of(st.sampled_from(HOSTILE_STRINGS),
                                                                 st.text(max_size=20)), min_size=1, max_size=3))
def test_list_filters(api, world, collection, params):
    response = api("monitor").get(f"{V1}/{collection}/", params)
    assert response.status_code in (200, 400, 404), (collection, params, response.content[:500])
    if response.status_code != 200:
        body = response.json()
        assert set(body) == {"detail", "code", "errors"}, body
