"""The synthetic cohort of ``generate_cohort``: valid records, history rows as a normal save
leaves them, and exactly the deviations the rules compute."""

from collections import Counter

import pytest
from django.core.management import call_command

from demo.synthetic import generate_cohort
from patients.models import Diagnosis, MalignancyHistory, Patient
from safety.models import AdverseEvent
from visits.models import Assessment, Infusion, ProtocolDeviation, TreatmentCycle
from visits.services import deviations_refresh

pytestmark = pytest.mark.django_db
MODELS = (Patient, Diagnosis, MalignancyHistory, TreatmentCycle, Assessment, Infusion, ProtocolDeviation,
          AdverseEvent)


@pytest.fixture
def cohort():
    return generate_cohort(patients=60, cycles=3, sites=4, seed=5, through="bulk")  # the fast path's claims


def test_every_record_passes_full_clean(cohort):
    for model in MODELS:
        records = list(model.objects.all())
        assert records, model
        for record in records:
            record.full_clean()


def test_each_record_has_its_creation_history_row(cohort):
    for model in MODELS:
        created = Counter(model.history.filter(history_type="+").values_list("id", flat=True))
        assert created == Counter(model.objects.values_list("pk", flat=True)), model
        first = model.history.filter(history_type="+").select_related("history_user").first()
        assert first.history_user.username.startswith("cohort-clinician-")
        assert first.history_change_reason is None and first.version == 1
    # Completed and withdrawn patients were created on study, then changed with a reason.
    changed = Patient.objects.exclude(status="on_study")
    assert changed.exists() and set(changed.values_list("version", flat=True)) == {2}
    for patient in changed:
        rows = list(patient.history.order_by("history_id"))
        assert [(r.history_type, r.status) for r in rows] == [("+", "on_study"), ("~", patient.status)]
        assert rows[1].history_change_reason


def test_derived_values_are_those_of_the_models(cohort):
    for assessment in Assessment.objects.all():
        total = assessment.mmt_total
        assessment.save()  # Assessment.save derives the total
        assert assessment.mmt_total == total


@pytest.mark.req("URS-VAL-003")
def test_deviations_are_those_the_rules_compute(cohort):
    kinds = Counter(ProtocolDeviation.objects.values_list("kind", flat=True))
    assert kinds, "the cohort has deviations"
    before = (ProtocolDeviation.objects.count(), ProtocolDeviation.history.count())
    for cycle in TreatmentCycle.objects.select_related("patient").order_by("patient", "number"):
        open_now = deviations_refresh(cycle=cycle, reason="check")  # opens, resolves or rewrites nothing
        assert {(d.kind, d.day, d.description) for d in open_now} == {
            (d.kind, d.day, d.description) for d in ProtocolDeviation.objects.filter(cycle=cycle)}
    assert (ProtocolDeviation.objects.count(), ProtocolDeviation.history.count()) == before


def test_command_interface_and_clear(capsys):
    call_command("generate_cohort", "--patients", "12", "--cycles", "2", "--sites", "3", "--seed", "42")
    assert Patient.objects.count() == 12
    call_command("generate_cohort", "--patients", "5", "--cycles", "1", "--sites", "2")
    assert Patient.objects.count() == 17  # numbering continues at each site
    call_command("generate_cohort", "--patients", "4", "--cycles", "2", "--sites", "2", "--clear")
    assert Patient.objects.count() == 4 and Patient.history.count() >= 4
    assert TreatmentCycle.objects.count() == 8
    out = capsys.readouterr().out
    assert "4/4 patients" in out and "rows/s" in out


def test_same_seed_same_cohort():
    def snapshot():
        return list(Assessment.objects.order_by("patient__subject_id", "assessment_date", "timepoint")
                    .values_list("patient__subject_id", "assessment_date", "ck_u_per_l", "mmt_total"))

    generate_cohort(patients=8, cycles=2, sites=2, seed=9)
    first = snapshot()
    generate_cohort(patients=8, cycles=2, sites=2, seed=9, clear=True)
    assert snapshot() == first
