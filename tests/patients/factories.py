from datetime import date

import factory

from patients.models import Diagnosis, MalignancyHistory, Patient
from tests.accounts.factories import SiteFactory


class PatientFactory(factory.django.DjangoModelFactory):
    """A valid, eligible adult on study (by default at site 01)."""

    class Meta:
        model = Patient

    site = factory.SubFactory(SiteFactory, code="01")
    subject_id = factory.Sequence(lambda n: f"{{site}}-{n % 999 + 1:03d}")
    sex = "F"
    birth_year = 1970
    race = "WHITE"
    consent_date = date(2025, 3, 1)
    enrolment_date = date(2025, 3, 10)
    symptom_onset_date = date(2024, 12, 1)
    active_myopathy = True
    ctd_associated = False
    status = "on_study"

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        kwargs["subject_id"] = kwargs["subject_id"].replace("{site}", kwargs["site"].code)
        return super()._create(model_class, *args, **kwargs)

    @classmethod
    def _build(cls, model_class, *args, **kwargs):
        kwargs["subject_id"] = kwargs["subject_id"].replace("{site}", kwargs["site"].code)
        return super()._build(model_class, *args, **kwargs)


class DiagnosisFactory(factory.django.DjangoModelFactory):
    """Definite DM: the rash plus criteria 1-3."""

    class Meta:
        model = Diagnosis

    patient = factory.SubFactory(PatientFactory)
    kind = "DM"
    diagnosis_date = date(2025, 2, 1)
    bp_weakness = True
    bp_biopsy = False
    bp_enzymes = True
    bp_emg = True
    heliotrope_rash = True

    class Params:
        pm = factory.Trait(kind="PM", heliotrope_rash=False, bp_biopsy=True, biopsy_performed=True)


class MalignancyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MalignancyHistory

    patient = factory.SubFactory(PatientFactory)
    malignancy_type = "Non-Hodgkin lymphoma"
    diagnosis_date = date(2018, 5, 1)
    status = "remission"
    certainty = "confirmed"
