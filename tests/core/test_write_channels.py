"""Every write channel goes through the same services (issue 13, point 2).

The channels: the pages (form), the API, the Django admin (read-only for clinical
records: refused), the ODM import and the cohort generator (its service-level
builder, and its bulk path for benchmarks). For the same entry each stores the
same records, derived facts, deviations and history rows; under a lock each
refuses, and nothing is stored. A new channel is one more entry in ``ENTRY``,
``EDIT`` or ``LOCKED``.
"""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.apps import apps
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.urls import reverse
from rest_framework.test import APIClient

from api.services import token_create
from core.models import ClinicalRecord
from core.services import record_save
from demo.synthetic import CohortWriter
from exchange.exports import odm
from exchange.imports.odm import OdmImportError, import_odm
from oversight.services import record_lock
from patients.models import Diagnosis, Patient
from safety import services as safety_services
from safety.models import AdverseEvent, AdverseEventFollowUp, AdverseEventReview
from tests.accounts.factories import MembershipFactory, UserFactory
from tests.patients.factories import DiagnosisFactory, PatientFactory
from visits.models import Assessment, Infusion, ProtocolDeviation, TreatmentCycle
from visits.services import CycleParts, cycle_save

pytestmark = pytest.mark.django_db

GRADES = ["neck_flexors", "deltoid", "biceps", "wrist_extensors", "gluteus_maximus", "gluteus_medius",
          "quadriceps", "ankle_dorsiflexors"]
START = date(2025, 3, 17)
NEXT = START + timedelta(days=28)  # cycle 2
WEIGHT = Decimal("62.0")  # prescribed 62 g a day
DOSES = {1: Decimal("62.0"), 2: Decimal("40.0")}  # day 2: the 40 g (an under-dose)
REASON = "Pump log: 40 g given"
CYCLE_MODELS = (TreatmentCycle, Assessment, Infusion, ProtocolDeviation)
#: Bookkeeping and keys that differ between any two rows, whatever the channel.
NOT_COMPARED = {"id", "patient", "cycle", "predecessor", "created_at", "updated_at", "detected_at",
                "resolved_at"}


# --- the entry, as plain values ----------------------------------------------------------------

def assessment_values(start=START):
    return {"assessment_date": start - timedelta(days=1), "mmt_scale": "kendall",
            "ck_u_per_l": Decimal("2400"), "ck_uln_u_per_l": Decimal("200"),
            **{f"mmt_{g}": 7 for g in GRADES}}


def infusion_values(day, dose, start=START):
    return {"day": day, "infusion_date": start + timedelta(days=day - 1), "lot": "A1",
            "concentration_pct": Decimal("10"), "volume_ml": dose * 10, "dose_g": dose,
            "max_rate_ml_per_h": Decimal("120")}


def cycle_values(start=START):
    return {"start_date": start, "weight_kg": WEIGHT, "dosing_basis": "actual"}


def parts_for(patient, doses=DOSES, start=START):
    return CycleParts(cycle=TreatmentCycle(patient=patient, **cycle_values(start)),
                      assessment=Assessment(patient=patient, timepoint="pre_cycle", **assessment_values(start)),
                      infusions={day: Infusion(**infusion_values(day, dose, start)) for day, dose in doses.items()})


def form_post(doses=DOSES, start=START):
    data = {f"cycle-{k}": str(v) for k, v in cycle_values(start).items()}
    data["cycle-height_cm"] = ""
    data.update({f"assessment-{k}": str(v) for k, v in assessment_values(start).items()})
    for day, dose in doses.items():
        data.update({f"day{day}-{k}": str(v) for k, v in infusion_values(day, dose, start).items() if k != "day"})
        data[f"day{day}-product"] = "Polyvalent IVIG 10 %"
    return data


def _json(values):
    return {k: v if isinstance(v, int) else str(v) for k, v in values.items()}


def api_body(patient, doses=DOSES, start=START):
    return {"patient": patient.pk, **_json(cycle_values(start)), "assessment": _json(assessment_values(start)),
            "infusions": [_json(infusion_values(day, dose, start)) for day, dose in doses.items()]}


def api_for(user):
    _, token = token_create(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def make_patient(site, subject_id):
    patient = PatientFactory(site=site, subject_id=subject_id)
    DiagnosisFactory(patient=patient)
    return patient


# --- what a channel left behind ------------------------------------------------------------------

def snapshot(patient):
    """The patient's cycle records (values, derived facts included), deviations and history rows,
    without the keys and times that differ between any two writes."""
    rows = {}
    cycles = TreatmentCycle.objects.filter(patient=patient)
    scopes = {TreatmentCycle: {"patient": patient}, Assessment: {"cycle__in": cycles},
              Infusion: {"cycle__in": cycles}, ProtocolDeviation: {"cycle__in": cycles}}
    for model in CYCLE_MODELS:
        names = [f.attname for f in model._meta.concrete_fields if f.name not in NOT_COMPARED]
        records = model.objects.filter(**scopes[model])
        rows[model.__name__] = sorted(tuple(r.values()) for r in records.values(*names))
        history = model.history.filter(id__in=records.values("pk"))
        rows[model.__name__ + " history"] = sorted(
            (h.history_type, h.history_change_reason or "", h.history_user_id)
            for h in history)
    rows["open deviations"] = sorted(ProtocolDeviation.objects.filter(cycle__in=cycles).open()
                                     .values_list("kind", "day", "description"))
    return rows


def stored_everything():
    return {model.__name__: (model.objects.count(), model.history.count())
            for model in (Patient, TreatmentCycle, Assessment, Infusion, ProtocolDeviation, AdverseEvent,
                          AdverseEventFollowUp, AdverseEventReview)}


# --- the channels: enter cycle 1 of a patient ----------------------------------------------------

def enter_by_form(client_for, clinician, site, subject_id):
    patient = make_patient(site, subject_id)
    response = client_for(clinician).post(reverse("visits:cycle_create", args=[patient.pk]), form_post())
    assert response.status_code == 302, response.context and [
        f.errors for f in response.context["entry"].forms.values()]
    return patient


def enter_by_api(client_for, clinician, site, subject_id):
    patient = make_patient(site, subject_id)
    response = api_for(clinician).post("/api/v1/cycles/", api_body(patient), format="json")
    assert response.status_code == 201, response.json()
    return patient


def enter_by_services(client_for, clinician, site, subject_id):
    patient = make_patient(site, subject_id)
    cycle_save(parts=parts_for(patient), user=clinician)
    return patient


def enter_by_odm_import(client_for, clinician, site, subject_id, tmp_path=None):
    """Export a patient entered through the services, rolled back, then import that file
    under the channel's subject id: the import adds the subject and its cycle."""
    with transaction.atomic():
        reference = make_patient(site, "01-099")
        cycle_save(parts=parts_for(reference), user=clinician)
        data = b"".join(odm.odm_xml(Patient.objects.filter(pk=reference.pk)))
        transaction.set_rollback(True)
    path = tmp_path / "channel.xml"
    path.write_bytes(data.replace(b"01-099", subject_id.encode()))
    import_odm(path, user=clinician)
    return Patient.objects.get(subject_id=subject_id)


def _generator(through):
    def enter(client_for, clinician, site, subject_id):
        patient = PatientFactory.build(site=site, subject_id=subject_id)
        patient._history_user = clinician
        diagnosis = DiagnosisFactory.build(patient=None)
        parts = parts_for(patient)
        parts.cycle.number = 1  # (cycle_save numbers a new cycle; the plan numbers its own)
        plan = {"patient": patient, "diagnosis": diagnosis, "malignancies": [], "user": clinician,
                "final_status": "on_study", "end_assessment": None, "adverse_events": [], "medications": [],
                "cycles": [{"cycle": parts.cycle, "assessment": parts.assessment,
                            "infusions": [parts.infusions[day] for day in sorted(parts.infusions)]}]}
        for record in (diagnosis, parts.cycle, parts.assessment, *parts.infusions.values()):
            record._history_user = clinician
        if through == "bulk":
            parts.assessment.mmt_total = sum(parts.assessment.grades)  # the bulk path's own step
        CohortWriter(patients=1, cycles=1, sites=1).write([plan], through=through)
        return Patient.objects.get(subject_id=subject_id)
    return enter


ENTRY = {
    "form": enter_by_form,
    "api": enter_by_api,
    "services": enter_by_services,
    "odm_import": enter_by_odm_import,
    "generator": _generator("services"),
    "generator_bulk": _generator("bulk"),
}


@pytest.mark.parametrize("channel", sorted(ENTRY))
@pytest.mark.req("URS-VAL-003")
def test_the_same_entry_stores_the_same_facts_deviations_and_history(channel, client_for, clinician, site_a,
                                                                        tmp_path):
    reference = enter_by_services(client_for, clinician, site_a, "01-001")
    expected = snapshot(reference)
    assert expected["open deviations"] == [("underdose", 2, expected["open deviations"][0][2])]
    enter = ENTRY[channel]
    kwargs = {"tmp_path": tmp_path} if channel == "odm_import" else {}
    patient = enter(client_for, clinician, site_a, "01-002", **kwargs)
    stored = snapshot(patient)
    if channel == "odm_import":
        # An import states its source as the reason of every row it writes; the rest is the same.
        reasons = {reason for key, rows in stored.items() if key.endswith("history") for _, reason, _ in rows}
        assert len(reasons) == 1 and "import" in reasons.pop().lower()
        for key in stored:
            if key.endswith("history"):
                stored[key] = sorted((t, "", user) for t, _, user in stored[key])
    assert stored == expected


# --- the channels: correct day 2 of an entered cycle ---------------------------------------------

def edit_by_form(client, api, patient, infusion):
    cycle = infusion.cycle
    data = form_post({1: DOSES[1], 2: Decimal("40.0")})
    data.update({"cycle-expected_version": cycle.version, "assessment-expected_version": cycle.assessment.version,
                 "day1-expected_version": cycle.infusions.get(day=1).version,
                 "day2-expected_version": infusion.version, "change_reason": REASON})
    return client.post(reverse("visits:cycle_update", args=[patient.pk, cycle.number]), data)


def edit_by_api(client, api, patient, infusion):
    return api.patch(f"/api/v1/infusions/{infusion.pk}/", {
        "dose_g": "40.0", "volume_ml": "400.0", "version": infusion.version, "change_reason": REASON},
        format="json")


def edit_by_services(client, api, patient, infusion):
    infusion.dose_g, infusion.volume_ml = Decimal("40.0"), Decimal("400.0")
    return cycle_save(parts=CycleParts(cycle=infusion.cycle, infusions={2: infusion},
                                       expected_versions={"day2": infusion.version}),
                      reason=REASON, user=client.user)


def edit_by_admin(client, api, patient, infusion):
    data = {"cycle": infusion.cycle_id, **{k: str(v) for k, v in infusion_values(2, Decimal("40.0")).items()},
            "product": infusion.product, "expected_version": infusion.version, "change_reason": REASON}
    return client.admin.post(f"/admin/visits/infusion/{infusion.pk}/change/", data)


EDIT = {"form": edit_by_form, "api": edit_by_api, "services": edit_by_services}
#: Channels that never change a stored clinical record: the admin (read-only), the ODM import
#: and the generator (they only add subjects: an existing subject is refused).
READ_ONLY = {"admin": edit_by_admin}


class Clients:
    def __init__(self, client_for, user, admin_user):
        self.user = user
        self.page = client_for(user)
        from django.test import Client
        self.admin = Client()
        self.admin.force_login(admin_user)

    def post(self, *args, **kwargs):
        return self.page.post(*args, **kwargs)


@pytest.fixture
def entered(client_for, clinician, site_a):
    """Cycle 1 with the prescribed dose on both days, no deviation."""
    patient = make_patient(site_a, "01-001")
    cycle_save(parts=parts_for(patient, {1: DOSES[1], 2: DOSES[1]}), user=clinician)
    return patient


@pytest.mark.parametrize("channel", sorted(EDIT))
@pytest.mark.req("URS-VAL-003")
def test_the_same_correction_stores_the_same_facts_deviations_and_history(channel, client_for, clinician,
                                                                          admin_user, site_a, entered):
    clients = Clients(client_for, clinician, admin_user)
    infusion = Infusion.objects.get(cycle__patient=entered, day=2)
    EDIT[channel](clients, api_for(clinician), entered, infusion)
    stored = snapshot(entered)

    other = make_patient(site_a, "01-002")
    cycle_save(parts=parts_for(other, {1: DOSES[1], 2: DOSES[1]}), user=clinician)
    edit_by_services(clients, None, other, Infusion.objects.get(cycle__patient=other, day=2))
    assert stored == snapshot(other)
    assert [kind for kind, _, _ in stored["open deviations"]] == ["underdose"]
    assert ("~", REASON, clinician.pk) in stored["Infusion history"]


@pytest.mark.parametrize("channel", sorted(READ_ONLY))
def test_a_read_only_channel_refuses_the_correction(channel, client_for, clinician, admin_user, site_a, entered):
    clients = Clients(client_for, clinician, admin_user)
    infusion = Infusion.objects.get(cycle__patient=entered, day=2)
    before, everything = snapshot(entered), stored_everything()
    response = READ_ONLY[channel](clients, api_for(admin_user), entered, infusion)
    assert response.status_code == 403
    assert snapshot(entered) == before and stored_everything() == everything


# --- the same refusal under a lock ------------------------------------------------------------------

def _refused(call):
    """Run a write that must be refused: the refusal as a short code."""
    try:
        response = call()
    except ValidationError as exc:
        return [e.code for errors in exc.error_dict.values() for e in errors] if hasattr(exc, "error_dict") \
            else [e.code for e in exc.error_list]
    except PermissionDenied:
        return ["permission"]
    except Exception as exc:  # CyclePartError and the import's error carry the model error
        inner = getattr(exc, "error", None)
        if isinstance(inner, ValidationError):
            return [e.code for errors in inner.error_dict.values() for e in errors]
        if isinstance(exc, OdmImportError):
            return ["import_refused"]
        raise
    return response


def _lock(patient, admin_user):
    record_lock(record=patient, user=admin_user, reason="Database lock")


LOCKED = {
    "form": lambda c, api, p, i: edit_by_form(c, api, p, i),
    "api": lambda c, api, p, i: edit_by_api(c, api, p, i),
    "services": lambda c, api, p, i: edit_by_services(c, api, p, i),
    "admin": lambda c, api, p, i: edit_by_admin(c, api, p, i),
    "form_new_cycle": lambda c, api, p, i: c.post(reverse("visits:cycle_create", args=[p.pk]),
                                                  form_post(start=NEXT)),
    "api_new_cycle": lambda c, api, p, i: api.post("/api/v1/cycles/", api_body(p, start=NEXT), format="json"),
    "services_new_cycle": lambda c, api, p, i: cycle_save(parts=parts_for(p, start=NEXT), user=c.user),
}


@pytest.mark.parametrize("channel", sorted(LOCKED))
@pytest.mark.req("URS-PRO-003")
def test_a_locked_casebook_refuses_every_channel(channel, client_for, clinician, admin_user, site_a, entered):
    clients = Clients(client_for, clinician, admin_user)
    _lock(entered, admin_user)
    infusion = Infusion.objects.get(cycle__patient=entered, day=2)
    before, everything = snapshot(entered), stored_everything()
    outcome = _refused(lambda: LOCKED[channel](clients, api_for(clinician), entered, infusion))
    if isinstance(outcome, list):
        assert "locked" in outcome, outcome
    elif channel == "admin":
        assert outcome.status_code == 403
    elif channel.startswith("api"):
        assert outcome.status_code in (400, 409), outcome.json()
        assert "locked" in str(outcome.json())
    else:  # the pages: back to the patient with the lock message, or the form with it
        assert outcome.status_code in (200, 302)
        assert "locked" in " ".join(str(m) for m in outcome.wsgi_request._messages) + outcome.content.decode()
    assert snapshot(entered) == before and stored_everything() == everything


@pytest.mark.req("URS-PRO-003")
def test_the_import_and_the_generator_cannot_reach_a_locked_casebook(client_for, clinician, admin_user, site_a,
                                                                     entered, tmp_path):
    """Both only add subjects: a file (or a plan) naming an existing subject is refused whole."""
    _lock(entered, admin_user)
    data = b"".join(odm.odm_xml(Patient.objects.filter(pk=entered.pk)))
    path = tmp_path / "locked.xml"
    path.write_bytes(data)
    everything = stored_everything()
    with pytest.raises(OdmImportError):
        import_odm(path, user=clinician)
    assert stored_everything() == everything


# --- AE follow-ups and reviews under a lock (issue 13) -------------------------------------------------

@pytest.fixture
def serious_event(entered, clinician):
    event = AdverseEvent(patient=entered, term="Aseptic meningitis", onset_date=START + timedelta(days=2),
                         grade=3, serious=True, serious_hospitalisation=True, relatedness="possible",
                         action_taken="interrupted", outcome="recovering")
    return record_save(instance=event, user=clinician)


def test_a_locked_casebook_refuses_an_ae_follow_up_and_a_second_review(client_for, clinician, monitor,
                                                                        admin_user, serious_event):
    safety_services.adverse_event_review(adverse_event=serious_event, user=monitor, comment="Typical.",
                                         reviewer_relatedness="probable")
    _lock(serious_event.patient, admin_user)
    everything = stored_everything()
    with pytest.raises(ValidationError) as refused:
        safety_services.adverse_event_follow_up(adverse_event=serious_event, user=clinician,
                                                follow_up_date=START + timedelta(days=6), note="Better.",
                                                outcome="recovering")
    assert refused.value.error_dict["__all__"][0].code == "locked"
    with pytest.raises(ValidationError) as refused:
        safety_services.adverse_event_review(adverse_event=serious_event, user=monitor, comment="Second look.",
                                             reviewer_relatedness="possible")
    assert refused.value.error_dict["__all__"][0].code == "locked"
    # The oversight pages: the same refusal, nothing stored.
    client_for(clinician).post(reverse("oversight:ae_follow_up", args=[serious_event.pk]), {
        "fu-follow_up_date": (START + timedelta(days=6)).isoformat(), "fu-note": "Better.",
        "fu-outcome": "recovering"})
    serious_event.refresh_from_db()
    client_for(monitor).post(reverse("oversight:ae_review", args=[serious_event.pk]), {
        "review-comment": "Second look.", "review-reviewer_relatedness": "possible",
        "review-agrees_with_seriousness": "true", "review-event_version": serious_event.version})
    assert stored_everything() == everything


# --- parents: declared, fixed ----------------------------------------------------------------------------

@pytest.mark.req("URS-PRO-008")
def test_every_clinical_record_declares_its_parents_up_to_the_patient():
    models = [m for m in apps.get_models() if issubclass(m, ClinicalRecord)]
    assert len(models) >= 10
    for model in models:
        if model is Patient:
            assert model.PARENT_FIELDS == () and model.FIXED_FIELDS == ("site",)
            continue
        assert model.PARENT_FIELDS, f"{model.__name__} names no parent: a lock would not reach it"
        for name in model.PARENT_FIELDS:
            assert model._meta.get_field(name).many_to_one or model._meta.get_field(name).one_to_one, name


def test_the_parent_chain_of_each_record_ends_at_its_patient(entered, serious_event, monitor, clinician):
    safety_services.adverse_event_review(adverse_event=serious_event, user=monitor, comment="Typical.",
                                         reviewer_relatedness="probable")
    safety_services.adverse_event_follow_up(adverse_event=serious_event, user=clinician,
                                            follow_up_date=START + timedelta(days=6), note="Better.",
                                            outcome="recovering")
    cycle_save(parts=CycleParts(cycle=TreatmentCycle.objects.get(patient=entered), infusions={
        2: Infusion.objects.get(cycle__patient=entered, day=2)}), reason="x")  # no deviation: make one
    records = [entered.diagnosis, *TreatmentCycle.objects.filter(patient=entered),
               *Assessment.objects.filter(patient=entered), *Infusion.objects.filter(cycle__patient=entered),
               serious_event, *AdverseEventFollowUp.objects.all(), *AdverseEventReview.objects.all()]
    seen = {type(r) for r in records}
    assert {Diagnosis, TreatmentCycle, Assessment, Infusion, AdverseEvent, AdverseEventFollowUp,
            AdverseEventReview} <= seen
    for record in records:
        assert record.parent_chain()[-1] == entered, record
        assert record.review_parents()[-1] == entered, record


@pytest.mark.req("URS-PRO-008")
def test_no_channel_moves_a_record_to_another_patient(client_for, clinician, admin_user, site_a, site_b,
                                                     entered, serious_event):
    other = make_patient(site_a, "01-002")
    cycle_save(parts=parts_for(other), user=clinician)
    # The kernel: an adverse event, a cycle, an infusion, an assessment keep their parent.
    cases = [(AdverseEvent.objects.get(pk=serious_event.pk), "patient", other),
             (TreatmentCycle.objects.get(patient=entered), "patient", other),
             (Infusion.objects.get(cycle__patient=entered, day=1), "cycle", TreatmentCycle.objects.get(patient=other)),
             (Patient.objects.get(pk=entered.pk), "site", site_b)]
    for record, field, value in cases:
        setattr(record, field, value)
        with pytest.raises(ValidationError) as refused:
            record_save(instance=record, reason="Move", user=admin_user)
        assert refused.value.error_dict[field][0].code == "parent_immutable", record
    everything = stored_everything()
    # The API: the same refusal.
    response = api_for(clinician).patch(f"/api/v1/adverse-events/{serious_event.pk}/", {
        "patient": other.pk, "version": serious_event.version, "change_reason": "Move"}, format="json")
    assert response.status_code == 400
    assert stored_everything() == everything
    assert AdverseEvent.objects.get(pk=serious_event.pk).patient_id == entered.pk


@pytest.mark.req("URS-PRO-008")
def test_an_adverse_event_links_only_an_infusion_of_its_own_patient(clinician, site_a, entered, serious_event):
    other = make_patient(site_a, "01-002")
    cycle_save(parts=parts_for(other), user=clinician)
    event = AdverseEvent.objects.get(pk=serious_event.pk)
    event.infusion = Infusion.objects.get(cycle__patient=other, day=1)
    with pytest.raises(ValidationError) as refused:
        record_save(instance=event, reason="Link", user=clinician)
    assert refused.value.error_dict["infusion"][0].code == "other_patient"
    event.infusion = Infusion.objects.get(cycle__patient=entered, day=1)
    record_save(instance=event, reason="Link", user=clinician)  # its own patient's: fine


# --- site-aware entry ---------------------------------------------------------------------------------------

@pytest.fixture
def two_hats(site_a, site_b):
    """Clinician at site 01, monitor (study-wide reader) at site 02."""
    user = UserFactory(username="two-hats")
    MembershipFactory(user=user, role="clinician", site=site_a)
    MembershipFactory(user=user, role="monitor", site=site_b)
    return user


@pytest.mark.req("URS-AUT-001")
def test_a_user_enters_data_only_where_a_role_grants_it(client_for, two_hats, clinician_b, site_a, site_b):
    at_b = make_patient(site_b, "02-001")
    cycle_save(parts=parts_for(at_b, {1: DOSES[1], 2: DOSES[1]}), user=clinician_b)
    everything = stored_everything()
    client, api = client_for(two_hats), api_for(two_hats)
    # Form: a new cycle, a patient edit, a malignancy.
    assert client.post(reverse("visits:cycle_create", args=[at_b.pk]), form_post(start=NEXT)).status_code == 403
    assert client.post(reverse("patients:patient_update", args=[at_b.pk]), {
        "subject_id": "02-001", "site": site_b.pk, "sex": "M", "birth_year": 1970, "race": "WHITE",
        "consent_date": "2025-03-01", "enrolment_date": "2025-03-10", "symptom_onset_date": "2024-12-01",
        "active_myopathy": "on", "suspected_cause": "none", "status": "on_study",
        "expected_version": at_b.version, "change_reason": "Source"}).status_code in (200, 403)  # (no site 02 offered)
    assert client.post(reverse("patients:malignancy_create", args=[at_b.pk]), {
        "malignancy_type": "Breast carcinoma", "diagnosis_date": "2020-01-01", "status": "remission",
        "certainty": "confirmed"}).status_code == 403
    # API: a new cycle, an infusion edit.
    assert api.post("/api/v1/cycles/", api_body(at_b, start=NEXT), format="json").status_code == 403
    infusion = Infusion.objects.get(cycle__patient=at_b, day=2)
    assert api.patch(f"/api/v1/infusions/{infusion.pk}/", {"dose_g": "40.0", "volume_ml": "400.0",
                                                            "version": infusion.version, "change_reason": "x"},
                     format="json").status_code == 403
    # Services.
    with pytest.raises(PermissionDenied):
        cycle_save(parts=parts_for(at_b, start=NEXT), user=two_hats)
    assert stored_everything() == everything
    # At site 01, the clinician's role: allowed.
    at_a = make_patient(site_a, "01-001")
    assert client.post(reverse("visits:cycle_create", args=[at_a.pk]), form_post()).status_code == 302


def test_a_locked_following_cycle_refuses_an_edit_that_would_re_judge_its_window(clinician, admin_user, entered):
    """Cycle 2's visit window follows cycle 1's date: with cycle 2 locked, moving cycle 1 is
    refused (a cycle-part error with the lock's code, nothing stored), not a server error."""
    from visits.services import CyclePartError

    cycle_save(parts=parts_for(entered, {1: DOSES[1], 2: DOSES[1]}, start=NEXT), user=clinician)
    record_lock(record=TreatmentCycle.objects.get(patient=entered, number=2), user=admin_user, reason="SDV done")
    first = TreatmentCycle.objects.get(patient=entered, number=1)
    everything = stored_everything()
    first.start_date = START + timedelta(days=10)  # cycle 2 now 18 days later: out of its window
    with pytest.raises(CyclePartError) as refused:
        cycle_save(parts=CycleParts(cycle=first, expected_versions={"cycle": first.version}), reason="Date typo",
                   user=clinician)
    assert refused.value.error.error_dict["__all__"][0].code == "locked"
    assert stored_everything() == everything
