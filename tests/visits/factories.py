from datetime import date, timedelta
from decimal import Decimal

import factory

from tests.patients.factories import PatientFactory
from visits.models import Assessment, Infusion, TreatmentCycle
from visits.services import cycle_derive, infusion_derive


def _with_derived_facts(instance, derived):
    """Set the facts the write services store (``visits.services``), as a save through them would."""
    for name, value in vars(derived).items():
        setattr(instance, name, value)
    return instance


class CycleFactory(factory.django.DjangoModelFactory):
    """Cycle n of a patient enrolled 2025-03-10: every 28 days from 2025-03-17, 70 kg."""

    class Meta:
        model = TreatmentCycle

    patient = factory.SubFactory(PatientFactory)
    number = 1
    start_date = factory.LazyAttribute(lambda o: date(2025, 3, 17) + timedelta(days=28 * (o.number - 1)))
    weight_kg = Decimal("70.0")
    dosing_basis = "actual"

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        cycle = model_class(*args, **kwargs)
        _with_derived_facts(cycle, cycle_derive(cycle)).save()
        return cycle


class AssessmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Assessment

    cycle = factory.SubFactory(CycleFactory)
    patient = factory.SelfAttribute("cycle.patient")
    timepoint = "pre_cycle"
    assessment_date = factory.SelfAttribute("cycle.start_date")
    mmt_scale = "kendall"
    mmt_neck_flexors = mmt_deltoid = mmt_biceps = mmt_wrist_extensors = 7
    mmt_gluteus_maximus = mmt_gluteus_medius = mmt_quadriceps = mmt_ankle_dorsiflexors = 7
    ck_u_per_l = Decimal("2400")
    ck_uln_u_per_l = Decimal("200")


class InfusionFactory(factory.django.DjangoModelFactory):
    """A correct dose: 1 g/kg of the cycle's weight."""

    class Meta:
        model = Infusion

    cycle = factory.SubFactory(CycleFactory)
    day = 1
    infusion_date = factory.LazyAttribute(lambda o: o.cycle.start_date + timedelta(days=o.day - 1))
    lot = "LOT-1"
    dose_g = factory.LazyAttribute(lambda o: o.cycle.weight_kg)
    volume_ml = factory.LazyAttribute(lambda o: o.dose_g * 10)
    concentration_pct = Decimal("10")
    max_rate_ml_per_h = Decimal("150")

    class Params:
        underdose = factory.Trait(dose_g=Decimal("60"))

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        infusion = model_class(*args, **kwargs)
        _with_derived_facts(infusion, infusion_derive(infusion, infusion.cycle)).save()
        return infusion


def full_cycle(patient, number=1, day2_dose=None, **cycle_kwargs):
    """A cycle with its assessment and both days (saved directly, without the service)."""
    cycle = CycleFactory(patient=patient, number=number, **cycle_kwargs)
    AssessmentFactory(cycle=cycle, patient=patient)
    InfusionFactory(cycle=cycle, day=1)
    kwargs = {"dose_g": day2_dose, "volume_ml": day2_dose * 10} if day2_dose else {}
    InfusionFactory(cycle=cycle, day=2, **kwargs)
    return cycle
