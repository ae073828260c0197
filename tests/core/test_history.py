import pytest

from core.history import change_entries
from patients.models import Patient
from tests.patients.factories import PatientFactory

pytestmark = pytest.mark.django_db


def test_change_entries_pair_rows_per_record(site_a, clinician):
    patient = PatientFactory(site=site_a)
    patient.sex = "M"
    patient.suspected_cause = "viral"
    patient._change_reason = "Source document"
    patient._history_user = clinician
    patient.save()
    entries = change_entries(Patient.history.filter(id=patient.pk).select_related("history_user", "site"))
    assert [e.action for e in entries] == ["changed", "created"]
    changed = entries[0]
    assert changed.user == clinician and changed.reason == "Source document"
    assert {(c.label, c.old, c.new) for c in changed.changes} == {
        ("Sex", "Female", "Male"), ("Suspected cause", "None suspected", "Viral infection")}
    assert entries[1].changes == []  # a creation lists no field change


def test_bookkeeping_fields_are_not_listed(site_a):
    patient = PatientFactory(site=site_a)
    patient.version = 5
    patient.save()
    entries = change_entries(Patient.history.filter(id=patient.pk).select_related("history_user", "site"))
    assert entries[0].changes == []
