"""A large synthetic cohort for load tests and benchmarks (``manage.py generate_cohort``).

Not the demo cohort (that is :mod:`demo.cohort`, shaped like the reference
study). The cohort is first planned (no database: every random draw, in a
fixed order), then written by one of two writers:

- ``through="services"`` (the default, and the command's): every record through
  the services of every other channel: ``record_save`` for the patient, its
  diagnosis, malignancies, adverse events and end-of-treatment visit,
  ``visits.services.cycle_save`` for each cycle (model rules, locks, the site
  clinician's permission at the site, the deviations by ``deviations_refresh``,
  history rows), ``patients.services.patient_withdraw`` for a withdrawal.
- ``through="bulk"`` (``--fast``; the 10,000-patient benchmark and the
  1,000-patient query-count fixtures): the same plan written with
  ``bulk_create`` and simple-history's bulk helpers, batch by batch. Its stored
  facts are computed by the same rules functions the services call, and
  ``tests/core/test_write_channels.py`` proves that both writers store the same
  rows, deviations and history (count, type, user, reason) for one seed: a rule
  the services start storing that this path does not compute fails that test.

Every row of the bulk writer is what the normal write path would leave:

- each record has its creation history row (``+``, the site clinician as the
  history user, no reason for change, as ``record_save`` leaves a first entry);
  a completed or withdrawn patient was created on study and then changed
  (version 2, a ``~`` history row with the reason for change);
- derived values come from the rules functions, as the models and services
  compute them: the MMT-8 total (``visits.rules.mmt_total``, as
  ``Assessment.save``), the stored facts of cycles and infusions
  (``visits.services.cycle_derive`` / ``infusion_derive``), and the protocol
  deviations (``visits.rules.cycle_deviations`` on the same facts
  ``visits.services.deviations_refresh`` reads);
- every record passes ``full_clean()``: eligible adults with recent, active
  PM or DM whose Bohan & Peter criteria are met, dates in order and not in
  the future.

Deterministic for a given ``seed`` and run date.
"""

import math
import random
import time
from dataclasses import dataclass, field
from datetime import time as dtime, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.core.management.color import no_style
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from accounts.models import Membership, Site
from patients import rules as patient_rules
from patients import services as patient_services
from patients.models import Diagnosis, MalignancyHistory, Patient
from coding.selectors import term_by_llt_code
from coding.services import ctcae_load
from demo.cohort import AE_CODING
from medications.models import ConcomitantMedication
from medications.services import medication_derive
from safety.models import AdverseEvent
from safety.services import adverse_event_derive
from visits import rules as visit_rules
from visits import services as visit_services
from visits.models import Assessment, Infusion, ProtocolDeviation, TreatmentCycle

#: At most 999 patients per site (subject id ``SS-NNN``) and 99 sites (two-digit code).
MAX_PER_SITE = 999
MAX_SITES = 99

TIME_ZONES = ("Europe/Paris", "Europe/Berlin", "Europe/London", "Europe/Madrid", "Europe/Rome",
              "Europe/Amsterdam", "Europe/Stockholm", "Europe/Warsaw", "America/New_York",
              "America/Chicago", "America/Toronto", "America/Sao_Paulo", "Asia/Tokyo",
              "Australia/Sydney", "Africa/Johannesburg")
#: The country (ISO 3166-1 alpha-3) of each zone in ``TIME_ZONES``, in the same order.
COUNTRIES = ("FRA", "DEU", "GBR", "ESP", "ITA", "NLD", "SWE", "POL", "USA", "USA", "CAN", "BRA", "JPN", "AUS",
             "ZAF")
CITIES = ("Lyon", "Lille", "Bordeaux", "Nantes", "Berlin", "Munich", "London", "Leeds", "Madrid",
          "Milan", "Amsterdam", "Uppsala", "Warsaw", "Boston", "Chicago", "Toronto", "Sao Paulo",
          "Kyoto", "Sydney", "Cape Town")
RACES = (("WHITE", 70), ("BLACK OR AFRICAN AMERICAN", 9), ("ASIAN", 10), ("OTHER", 3),
         ("MULTIPLE", 2), ("NOT REPORTED", 6))
MALIGNANCIES = ("Breast carcinoma", "Lung carcinoma", "Ovarian carcinoma", "Colorectal carcinoma",
                "Non-Hodgkin lymphoma", "Gastric carcinoma", "Prostate carcinoma", "Nasopharyngeal carcinoma",
                "Pancreatic carcinoma", "Melanoma")
MINOR_AE = (("Headache", 1, "probable"), ("Chills", 1, "probable"), ("Fever", 1, "possible"),
            ("Nausea", 1, "possible"), ("Fatigue", 1, "possible"), ("Infusion-related reaction", 2, "probable"),
            ("Rash", 1, "possible"), ("Hypertension", 2, "possible"))
WITHDRAWAL_REASONS = ("Patient's decision", "Lost to follow-up", "Lack of efficacy: rescue therapy started",
                      "Moved away from the study site")

#: Share of cycles with each deliberate deviation (else the cycle follows the protocol).
DEVIATION_RATES = (("late", 0.02), ("underdose_day2", 0.03), ("overdose_day1", 0.005),
                   ("no_day2", 0.01), ("non_consecutive", 0.01), ("fast", 0.015))
COMPLETED_SHARE = 0.55
WITHDRAWN_SHARE = 0.05
MALIGNANCY_SHARE = 0.15
AE_SHARE = 0.12
#: Shares of patients with a statin since before the study, and started on prednisone during it.
STATIN_SHARE = 0.15
PREDNISONE_SHARE = 0.2
SERIOUS_AE_SHARE = 0.01

#: The clinical tables ``--clear`` empties (with their history tables): apps, in any order.
CLEAR_APPS = ("review", "patients", "visits", "safety", "medications")

Q1 = Decimal("0.1")


def d1(value) -> Decimal:
    """A Decimal with one decimal place, as a DecimalField(decimal_places=1) stores it."""
    return Decimal(value).quantize(Q1)


def d3(value) -> Decimal:
    return Decimal(value).quantize(Decimal("0.001"))


@dataclass
class Counts:
    patients: int = 0
    rows: dict = field(default_factory=dict)

    def add(self, model, n):
        name = model._meta.label
        self.rows[name] = self.rows.get(name, 0) + n

    @property
    def total(self):
        """Rows written, history rows included (each record has one; a changed patient two)."""
        return sum(self.rows.values())


# --- Sites and users ---------------------------------------------------------------------------

def ensure_sites(n_sites):
    """Sites 01..n (existing ones kept) and one clinician per site, the history user of its data."""
    if not 1 <= n_sites <= MAX_SITES:
        raise ValueError(f"Between 1 and {MAX_SITES} sites.")
    User = get_user_model()
    sites, clinicians = [], {}
    for i in range(1, n_sites + 1):
        code = f"{i:02d}"
        site, _ = Site.objects.get_or_create(code=code, defaults={
            "name": f"{CITIES[(i - 1) % len(CITIES)]} University Hospital {code}",
            "time_zone": TIME_ZONES[(i - 1) % len(TIME_ZONES)],
            "country": COUNTRIES[(i - 1) % len(COUNTRIES)]})
        user, created = User.objects.get_or_create(username=f"cohort-clinician-{code}", defaults={
            "first_name": "Clinician", "last_name": f"Site {code}", "email": f"clinician{code}@example.org"})
        if created:
            user.set_unusable_password()
            user.save()
        Membership.objects.get_or_create(user=user, site=site, role="clinician")
        sites.append(site)
        clinicians[site.pk] = user
    return sites, clinicians


def clear_clinical_data():
    """Empty the clinical tables and their history (a benchmark database only).

    Audit rows are append-only: the PostgreSQL trigger refuses DELETE but not
    TRUNCATE, which is what ``sql_flush`` issues there (as ``manage.py flush``).
    Sites, users and the access and export logs stay."""
    from django.apps import apps

    tables = sorted({m._meta.db_table for label in CLEAR_APPS
                     for m in apps.get_app_config(label).get_models()})
    statements = connection.ops.sql_flush(no_style(), tables, reset_sequences=False, allow_cascade=False)
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Deferred foreign-key checks still pending in this transaction block a TRUNCATE.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        for sql in statements:
            cursor.execute(sql)
    return len(tables)


# --- The cohort ----------------------------------------------------------------------------------

def _birth_year_for(age, on):
    for year in (on.year - age, on.year - age - 1, on.year - age + 1):
        if patient_rules.age_at(on, year) == age:
            return year
    raise ValueError(age)


def _weighted(rng, pairs):
    total = sum(w for _, w in pairs)
    x = rng.uniform(0, total)
    for value, weight in pairs:
        x -= weight
        if x <= 0:
            return value
    return pairs[-1][0]


def _grades(total):
    """Eight Kendall grades (0-10) summing to ``total`` (0-80)."""
    base, extra = divmod(max(0, min(80, total)), 8)
    return [min(10, base + (1 if i < extra else 0)) for i in range(8)]


class CohortWriter:
    """Generates and writes the cohort, one batch of patients per transaction."""

    def __init__(self, *, patients, cycles, sites, seed=42, batch_size=1000, today=None, out=None):
        if patients < 0 or cycles < 1:
            raise ValueError("At least one cycle per patient.")
        self.n_patients, self.n_cycles, self.n_sites = patients, cycles, sites
        self.rng = random.Random(seed)
        ctcae_load()  # idempotent: the coded terms of the generated events
        self.coded_terms = {code: term_by_llt_code(code) for code in set(AE_CODING.values())}
        # The medications draw from their own generator: the rest of the cohort stays as it was.
        self.medication_rng = random.Random(seed + 17)
        self.batch_size = batch_size
        self.today = today or timezone.localdate()
        self.out = out or (lambda message: None)
        self.counts = Counts()
        # The course spans 7 days to cycle 1, one cycle interval per cycle (a late one: 40 days),
        # then the end-of-treatment visit one interval after the last cycle: enrol early enough
        # that all of it lies before today.
        self.course_days = 7 + 40 * (cycles - 1) + visit_rules.CYCLE_INTERVAL_DAYS + 3
        self.latest_enrolment = self.today - timedelta(days=self.course_days)
        self.earliest_enrolment = self.latest_enrolment - timedelta(days=3 * 365)

    # The write ---------------------------------------------------------------------------------
    def run(self, through="services"):
        if through not in ("services", "bulk"):
            raise ValueError("through: 'services' or 'bulk'.")
        write = self._write_services if through == "services" else self._write_bulk
        sites, self.clinicians = ensure_sites(self.n_sites)
        if self.n_patients > len(sites) * MAX_PER_SITE:
            raise ValueError(f"At most {MAX_PER_SITE} patients per site: use more sites.")
        # Subject numbers continue after the patients a site already has.
        taken = dict(Patient.objects.values("site").annotate(n=Max("subject_id")).values_list("site", "n"))
        self.next_number = {s.pk: int(taken[s.pk][3:]) + 1 if s.pk in taken else 1 for s in sites}
        free = sum(MAX_PER_SITE + 1 - n for n in self.next_number.values())
        if self.n_patients > free:
            raise ValueError(f"Only {free} subject ids left at these sites: use --clear or more sites.")
        self.sites = sites
        started = time.monotonic()
        done = 0
        while done < self.n_patients:
            n = min(self.batch_size, self.n_patients - done)
            with transaction.atomic():
                write(self._plan_batch(n))
            done += n
            elapsed = time.monotonic() - started
            self.out(f"{done}/{self.n_patients} patients, {self.counts.total} rows in {elapsed:.1f} s "
                     f"({self.counts.total / max(elapsed, 1e-9):,.0f} rows/s)")
        self.counts.patients = done
        return self.counts

    def write(self, plans, through="services"):
        """Write planned patients (the dicts ``_plan_batch`` returns) with one of the writers:
        the service-level builder the write-channel test feeds with its own plan."""
        (self._write_services if through == "services" else self._write_bulk)(plans)
        return self.counts

    def _site_for_next_patient(self):
        free = [s for s in self.sites if self.next_number[s.pk] <= MAX_PER_SITE]
        # Sites recruit unevenly (larger and smaller centres), never beyond 999 subjects.
        weights = [1 + (int(s.code) % 4) for s in free]
        return self.rng.choices(free, weights=weights)[0]

    def _save(self, model, objs):
        if not objs:
            return objs
        objs = bulk_create_with_history(objs, model, batch_size=500)
        self.counts.add(model, 2 * len(objs))  # the record and its history row
        return objs

    def _plan_batch(self, n):
        """Every random draw of ``n`` patients, in the order the bulk writer always made them."""
        rng = self.rng
        plans = [self._plan_patient() for _ in range(n)]
        for plan in plans:
            plan["cycles"] = self._plan_cycles(plan)
        for plan in plans:
            plan["adverse_events"] = self._adverse_events(plan)
        for plan in plans:
            plan["medications"] = self._medications(plan)
        for plan in plans:
            if plan["final_status"] == "withdrawn":
                last = plan["cycles"][-1]["infusions"][-1].infusion_date
                plan["withdrawal"] = (min(self.today, last + timedelta(days=rng.randint(7, 20))),
                                      rng.choice(WITHDRAWAL_REASONS))
        return plans

    def _write_services(self, plans):
        """Each patient's records through the services, in the order a site enters them."""
        from patients.services import diagnosis_save, malignancy_save, patient_save, patient_withdraw
        from medications.services import medication_save
        from safety.services import adverse_event_save
        from visits.services import CycleParts, assessment_save, cycle_save

        for plan in plans:
            user, patient = plan["user"], plan["patient"]
            patient_save(patient=patient, user=user)
            plan["diagnosis"].patient = patient
            diagnosis_save(diagnosis=plan["diagnosis"], user=user)
            for malignancy in plan["malignancies"]:
                malignancy.patient = patient
                malignancy_save(malignancy=malignancy, user=user)
            for c in plan["cycles"]:
                c["cycle"].patient = patient  # (planned before the patient had its id)
                cycle_save(parts=CycleParts(cycle=c["cycle"], assessment=c["assessment"],
                                            infusions={i.day: i for i in c["infusions"]}), user=user)
            if plan["end_assessment"] is not None:
                plan["end_assessment"].patient = patient
                assessment_save(assessment=plan["end_assessment"], user=user)
            for event in plan["adverse_events"]:
                event.patient, event.infusion = patient, event.infusion
                adverse_event_save(event=event, user=user)
            for medication in plan["medications"]:
                medication.patient = patient
                medication_save(medication=medication, user=user)
            if plan["final_status"] == "completed":
                patient.status = "completed"
                patient_save(patient=patient, user=user, reason="Treatment course completed")
            elif plan["final_status"] == "withdrawn":
                on, reason = plan["withdrawal"]
                patient_withdraw(patient=patient, on=on, reason=reason, expected_version=patient.version,
                                 user=user)
            self._count_services(plan)

    def _count_services(self, plan):
        """The rows one patient's services wrote, as the bulk writer counts them."""
        records = [plan["patient"], plan["diagnosis"], *plan["malignancies"], *plan["adverse_events"],
                   *plan["medications"]]
        for c in plan["cycles"]:
            records += [c["cycle"], c["assessment"], *c["infusions"]]
        if plan["end_assessment"] is not None:
            records.append(plan["end_assessment"])
        for record in records:
            self.counts.add(type(record), 2)
        deviations = ProtocolDeviation.objects.filter(patient=plan["patient"]).count()
        self.counts.add(ProtocolDeviation, 2 * deviations)
        if plan["final_status"] != "on_study":
            self.counts.add(Patient.history.model, 1)

    def _write_bulk(self, plans):
        # The stored facts, as patients.services derives them on save (the treatment dates of the
        # planned course: what patient_facts_refresh stores once the cycles are written).
        for plan in plans:
            given = [i.infusion_date for c in plan["cycles"] for i in c["infusions"]]
            end = plan["end_assessment"]
            plan["dates"] = (min(given, default=None), max(given, default=None),
                             end.assessment_date if end is not None else None)
            patient_services.patient_derive(plan["patient"], plan["dates"])
            # The next cycle's schedule, as the visits services store it once the cycles are written.
            last_start = max((c["cycle"].start_date for c in plan["cycles"]), default=None)
            for name, value in vars(visit_services.patient_schedule_derive(
                    plan["patient"], last_start=last_start)).items():
                setattr(plan["patient"], name, value)
        patients = self._save(Patient, [p["patient"] for p in plans])
        for plan, patient in zip(plans, patients):
            plan["patient"] = patient
            plan["diagnosis"].patient = patient
            patient_services.diagnosis_derive(plan["diagnosis"], patient.age_at_onset)
            for m in plan["malignancies"]:
                m.patient = patient
                patient_services.malignancy_derive(m, plan["dates"])
        self._save(Diagnosis, [p["diagnosis"] for p in plans])
        self._save(MalignancyHistory, [m for p in plans for m in p["malignancies"]])

        # The cycles' and infusions' stored facts, as visits.services derives them on a save.
        for plan in plans:
            previous_start = None
            for c in plan["cycles"]:
                cycle = c["cycle"]
                cycle.patient = plan["patient"]
                for name, value in vars(visit_services.cycle_derive(
                        cycle, previous_start=previous_start, patient=plan["patient"])).items():
                    setattr(cycle, name, value)
                for infusion in c["infusions"]:
                    for name, value in vars(visit_services.infusion_derive(infusion, cycle)).items():
                        setattr(infusion, name, value)
                previous_start = cycle.start_date
        self._save(TreatmentCycle, [c["cycle"] for plan in plans for c in plan["cycles"]])

        assessments, infusions, deviations = [], [], []
        for plan in plans:
            patient, user = plan["patient"], plan["user"]
            previous_start = None
            for c in plan["cycles"]:
                cycle = c["cycle"]
                c["assessment"].cycle = cycle
                c["assessment"].patient_id = patient.pk
                assessments.append(c["assessment"])
                for infusion in c["infusions"]:
                    infusion.cycle = cycle
                    infusions.append(infusion)
                deviations += self._deviations(patient, cycle, previous_start, c["infusions"], user)
                previous_start = cycle.start_date
            if plan["end_assessment"] is not None:
                plan["end_assessment"].patient = patient
                assessments.append(plan["end_assessment"])
        self._save(Assessment, assessments)
        self._save(Infusion, infusions)
        self._save(ProtocolDeviation, deviations)
        self._save(AdverseEvent, [e for plan in plans for e in plan["adverse_events"]])
        for plan in plans:
            for medication in plan["medications"]:
                medication.patient = plan["patient"]
                medication_derive(medication, plan["dates"][0])  # as medications.services stores them
        self._save(ConcomitantMedication, [m for plan in plans for m in plan["medications"]])

        # Completed and withdrawn patients: the status change after the course, a second
        # history row with its reason, as record_save leaves an edit.
        changed = []
        now = timezone.now()
        for plan in plans:
            patient = plan["patient"]
            if plan["final_status"] == "completed":
                patient.status = "completed"
                patient._change_reason = "Treatment course completed"
            elif plan["final_status"] == "withdrawn":
                patient.status = "withdrawn"
                patient.withdrawal_date, patient.withdrawal_reason = plan["withdrawal"]
                patient._change_reason = f"Withdrawn: {patient.withdrawal_reason}"
            else:
                continue
            patient.version = 2
            patient.updated_at = now
            changed.append(patient)
        if changed:
            bulk_update_with_history(changed, Patient, ["status", "withdrawal_date", "withdrawal_reason",
                                                        "version", "updated_at"], batch_size=500)
            self.counts.add(Patient.history.model, len(changed))

    # Planning (no database) ------------------------------------------------------------------------
    def _plan_patient(self):
        rng = self.rng
        site = self._site_for_next_patient()
        number = self.next_number[site.pk]
        self.next_number[site.pk] += 1
        user = self.clinicians[site.pk]

        kind = "DM" if rng.random() < 0.55 else "PM"
        sex = "F" if rng.random() < (0.67 if kind == "DM" else 0.55) else "M"
        age = max(19, min(85, round(rng.gauss(55, 12))))
        span = (self.latest_enrolment - self.earliest_enrolment).days
        enrolment = self.earliest_enrolment + timedelta(days=rng.randint(0, span))
        duration_days = min(1080, max(20, round(rng.lognormvariate(math.log(240), 0.8))))
        onset = enrolment - timedelta(days=duration_days)
        thrombotic = age > 65 or rng.random() < 0.05
        cause = _weighted(rng, (("none", 92), ("viral", 5), ("drug", 3)))
        detail = {"none": "", "viral": "Acute coxsackie B infection",
                  "drug": "Possible statin-induced myopathy"}[cause]
        patient = Patient(
            subject_id=f"{site.code}-{number:03d}", site=site, sex=sex,
            birth_year=_birth_year_for(age, enrolment), race=_weighted(rng, RACES),
            consent_date=enrolment - timedelta(days=rng.randint(0, 14)), enrolment_date=enrolment,
            symptom_onset_date=onset, active_myopathy=True, ctd_associated=False,
            steroid_contraindication=rng.random() < 0.1, renal_risk=rng.random() < 0.05,
            thrombotic_risk=thrombotic, suspected_cause=cause, suspected_cause_detail=detail,
            status="on_study")
        # Screened at enrolment: the risks hold from then on.
        patient.renal_risk_since = enrolment if patient.renal_risk else None
        patient.thrombotic_risk_since = enrolment if patient.thrombotic_risk else None
        patient._history_user = user

        # Bohan & Peter: weakness and raised enzymes (the trial's population), biopsy and EMG often.
        biopsy = rng.random() < 0.7
        emg = rng.random() < 0.8
        signs = {"upper_limb_weakness": True, "lower_limb_weakness": rng.random() < 0.9,
                 "neck_flexors_weaker": rng.random() < 0.6, "legs_proximal_weaker": rng.random() < 0.5,
                 "dysphagia": rng.random() < 0.2, "anti_jo1": rng.random() < 0.15}
        if kind == "DM":
            signs.update(heliotrope_rash=rng.random() < 0.7, gottron_papules=rng.random() < 0.6,
                         gottron_sign=rng.random() < 0.3)
            if not (signs["heliotrope_rash"] or signs["gottron_papules"] or signs["gottron_sign"]):
                signs["heliotrope_rash"] = True  # DM needs the rash
        diagnosis = Diagnosis(
            kind=kind, diagnosis_date=onset + (enrolment - onset) * 3 // 4,
            bp_weakness=True, bp_biopsy=biopsy, bp_enzymes=True, bp_emg=emg, biopsy_performed=biopsy,
            biopsy_perimysial_infiltrate=biopsy and kind == "DM",
            biopsy_perifascicular_atrophy=biopsy and kind == "DM" and rng.random() < 0.6,
            biopsy_endomysial_infiltrate=biopsy and kind == "PM", **signs)
        diagnosis._history_user = user

        malignancies = []
        if rng.random() < MALIGNANCY_SHARE:
            before = rng.random() < 0.75
            when = (enrolment - timedelta(days=rng.randint(30, 3650)) if before
                    else min(self.today, enrolment + timedelta(days=rng.randint(30, self.course_days))))
            m = MalignancyHistory(
                malignancy_type=rng.choice(MALIGNANCIES), diagnosis_date=when,
                status=rng.choice(("remission", "remission", "active", "relapse")) if before else "active",
                certainty="confirmed" if rng.random() < 0.85 else "probable")
            m._history_user = user
            malignancies.append(m)

        roll = rng.random()
        final = ("completed" if roll < COMPLETED_SHARE else
                 "withdrawn" if roll < COMPLETED_SHARE + WITHDRAWN_SHARE else "on_study")
        # Disease course: CK falls geometrically in responders; MMT-8 gains in some.
        responder = rng.random() < 0.7
        ck0 = max(300, round(rng.lognormvariate(math.log(2500), 0.7)))
        ck_last = ck0 * (rng.uniform(0.1, 0.45) if responder else rng.uniform(0.6, 1.1))
        mmt0 = rng.randint(38, 68)
        mmt_last = min(80, mmt0 + (rng.randint(4, 16) if responder and rng.random() < 0.5 else rng.randint(-3, 4)))
        height = d1(rng.gauss(176 if sex == "M" else 163, 7))
        weight = d1(max(42, rng.gauss(82 if sex == "M" else 68, 13)))
        bmi = float(weight) / (float(height) / 100) ** 2
        return {
            "patient": patient, "diagnosis": diagnosis, "malignancies": malignancies, "user": user,
            "final_status": final, "ck": (ck0, ck_last), "mmt": (mmt0, mmt_last), "response": responder,
            "height": height, "weight": weight, "basis": "adjusted" if bmi > 32 and rng.random() < 0.5 else "actual",
        }

    def _plan_cycles(self, plan):
        rng, patient, user = self.rng, plan["patient"], plan["user"]
        k = self.n_cycles
        steps = k + (1 if plan["final_status"] == "completed" else 0)
        ck0, ck_last = plan["ck"]
        mmt0, mmt_last = plan["mmt"]
        cycles = []
        start = patient.enrolment_date + timedelta(days=7)
        weight = plan["weight"]
        for number in range(1, k + 1):
            deviation = None
            roll = rng.random()
            for what, rate in DEVIATION_RATES:
                if roll < rate:
                    deviation = what
                    break
                roll -= rate
            if number > 1:
                start += timedelta(days=40 if deviation == "late" else visit_rules.CYCLE_INTERVAL_DAYS + rng.randint(-3, 3))
            weight = d1(weight + Decimal(str(round(rng.uniform(-0.8, 0.8), 1))))
            cycle = TreatmentCycle(patient=patient, number=number, start_date=start, weight_kg=weight,
                                   height_cm=plan["height"], dosing_basis=plan["basis"])
            # The stored facts, as visits.services derives them on a save.
            for name, value in vars(visit_services.cycle_derive(
                    cycle, previous_start=cycles[-1]["cycle"].start_date if cycles else None,
                    patient=patient)).items():
                setattr(cycle, name, value)
            cycle._history_user = user
            step = number - 1
            assessment = self._assessment(plan, start - timedelta(days=rng.randint(0, 3)), step, steps,
                                          timepoint="pre_cycle")
            dosing_weight = visit_rules.dosing_weight_kg(plan["basis"], weight_kg=weight,
                                                         height_cm=plan["height"], sex=patient.sex)
            dose = visit_rules.prescribed_daily_dose_g(dosing_weight)
            rate = Decimal("0.025") if patient.infusion_risk else Decimal("0.035")
            infusions = []
            for day in (1, 2):
                if day == 2 and deviation == "no_day2":
                    continue
                given = dose
                if day == 2 and deviation == "underdose_day2":
                    given = visit_rules.q1(dose * Decimal(str(rng.choice((0.8, 0.85, 0.9)))))
                if day == 1 and deviation == "overdose_day1":
                    given = visit_rules.q1(dose * Decimal("1.1"))
                day_rate = Decimal("0.045") if (day == 1 and deviation == "fast") else rate
                when = start + timedelta(days=(2 if deviation == "non_consecutive" else 1) if day == 2 else 0)
                max_rate = visit_rules.q1(day_rate * weight * 60)
                volume = d1(given * 10)
                minutes = int(volume / max_rate * 60) + 30  # ramp-up at a slower rate first
                begin = 8 * 60 + rng.randint(0, 90)
                end = min(begin + minutes, 23 * 60 + 59)
                infusion = Infusion(
                    day=day, infusion_date=when, start_time=dtime(begin // 60, begin % 60),
                    end_time=dtime(end // 60, end % 60), lot=f"IVG-{start:%y%m}-{rng.randint(1, 9)}",
                    concentration_pct=Decimal("10.0"), volume_ml=volume, dose_g=d1(given),
                    max_rate_ml_per_h=max_rate)
                for name, value in vars(visit_services.infusion_derive(infusion, cycle)).items():
                    setattr(infusion, name, value)
                infusion._history_user = user
                infusions.append(infusion)
            cycles.append({"cycle": cycle, "assessment": assessment, "infusions": infusions})
        plan["end_assessment"] = (
            self._assessment(plan, start + timedelta(days=visit_rules.CYCLE_INTERVAL_DAYS), steps - 1, steps, timepoint="end")
            if plan["final_status"] == "completed" else None)
        return cycles

    def _assessment(self, plan, when, step, steps, *, timepoint):
        rng, patient = self.rng, plan["patient"]
        frac = step / max(steps - 1, 1)
        ck0, ck_last = plan["ck"]
        mmt0, mmt_last = plan["mmt"]
        ck = max(20, round(ck0 * (ck_last / ck0) ** frac * rng.uniform(0.9, 1.1)))
        mmt = round(mmt0 + (mmt_last - mmt0) * frac + rng.choice((-1, 0, 0, 1)))
        improve = frac * (1.0 if plan["response"] else 0.25)
        grades = _grades(mmt)
        values = dict(
            timepoint=timepoint, assessment_date=when, mmt_scale="kendall",
            ck_u_per_l=d1(ck), ck_lln_u_per_l=d1(30), ck_uln_u_per_l=d1(190 if patient.sex == "F" else 200),
            ldh_u_per_l=d1(round(480 - 180 * improve + rng.randint(-30, 30))), ldh_uln_u_per_l=d1(250),
            physician_global=d1(round(6.5 - 2.5 * improve, 1)),
            patient_global=d1(round(6.0 - 2.0 * improve + rng.uniform(-0.5, 0.5), 1)),
            extramuscular_global=d1(round(3.0 - 1.0 * improve, 1)),
            haq=d3(round(1.5 - 0.4 * improve, 3)),
        )
        if rng.random() < 0.4:
            values.update(aldolase_u_per_l=d1(round(rng.uniform(8, 40) * (1 - 0.5 * improve), 1)),
                          aldolase_uln_u_per_l=d1("7.6"),
                          ast_u_per_l=d1(rng.randint(40, 160)), ast_uln_u_per_l=d1(40),
                          alt_u_per_l=d1(rng.randint(30, 140)), alt_uln_u_per_l=d1(45))
        for (name, _label), grade in zip(visit_rules.MMT8_GROUPS, grades):
            values[name] = grade
        assessment = Assessment(**values)
        assessment.mmt_total = visit_rules.mmt_total(assessment.grades, assessment.mmt_total_reported)  # as Assessment.save
        assessment._history_user = plan["user"]
        return assessment

    def _deviations(self, patient, cycle, previous_start, infusions, user):
        """The cycle's deviations as ``deviations_refresh`` computes them after the cycle is saved."""
        found = visit_rules.cycle_deviations(
            start=cycle.start_date, previous_start=previous_start, weight_kg=cycle.weight_kg,
            dosing_weight=cycle.dosing_weight_kg, at_risk=cycle.at_risk,
            infusions=[visit_rules.InfusionFacts(i.day, i.infusion_date, i.dose_g, i.max_rate_ml_per_h)
                       for i in infusions])
        rows = []
        for d in found:
            row = ProtocolDeviation(patient_id=patient.pk, cycle=cycle, kind=d.kind.value, day=d.day,
                                    description=d.description)
            row._history_user = user
            rows.append(row)
        return rows

    def _adverse_events(self, plan):
        rng = self.rng
        if rng.random() >= AE_SHARE:
            return []
        patient, user = plan["patient"], plan["user"]
        c = rng.choice(plan["cycles"])
        infusion = rng.choice(c["infusions"])
        if rng.random() < SERIOUS_AE_SHARE / AE_SHARE:
            event = AdverseEvent(
                patient=patient, infusion=infusion, term="Aseptic meningitis",
                coded_term=self.coded_terms[AE_CODING["Aseptic meningitis"]],
                description="Severe headache, neck stiffness and fever after the infusion; CSF sterile.",
                onset_date=infusion.infusion_date + timedelta(days=1),
                end_date=min(self.today, infusion.infusion_date + timedelta(days=6)), grade=3, serious=True,
                serious_hospitalisation=True, relatedness="probable", action_taken="interrupted",
                outcome="recovered")
        else:
            term, grade, relatedness = rng.choice(MINOR_AE)
            event = AdverseEvent(
                patient=patient, infusion=infusion, term=term, description="",
                coded_term=self.coded_terms[AE_CODING[term]],
                onset_date=infusion.infusion_date, end_date=infusion.infusion_date + timedelta(days=rng.randint(0, 2)),
                grade=grade, relatedness=relatedness,
                action_taken="rate_reduced" if rng.random() < 0.4 else "none", outcome="recovered")
        event.end_date = min(event.end_date, self.today)
        adverse_event_derive(event, now=timezone.now())  # the stored facts its service would store
        event._history_user = user
        return [event]


    def _medications(self, plan):
        """A statin taken since before the study for some patients; prednisone started during
        the course for others (drawn from the medications' own generator)."""
        rng, user = self.medication_rng, plan["user"]
        first = plan["cycles"][0]["infusions"][0].infusion_date
        medications = []
        if rng.random() < STATIN_SHARE:
            medications.append(ConcomitantMedication(
                drug_name="Atorvastatin", atc_code="C10AA05", indication="Hypercholesterolaemia", dose=20,
                dose_unit="mg", route="ORAL", frequency="QD", start_date=first - timedelta(days=rng.randint(200, 900)),
                ongoing=True))
        if rng.random() < PREDNISONE_SHARE:
            start = min(self.today, first + timedelta(days=rng.randint(20, 60)))
            medications.append(ConcomitantMedication(
                drug_name="Prednisone", atc_code="H02AB07", indication="Myositis not improving", dose=40,
                dose_unit="mg", route="ORAL", frequency="QD", start_date=start, ongoing=True))
        for medication in medications:
            medication._history_user = user
        return medications


def generate_cohort(*, patients, cycles, sites, seed=42, clear=False, batch_size=1000, out=None,
                    through="services", today=None):
    """Write the cohort (``through``: "services", the default, or "bulk", the benchmark's
    fast path; see the module's docstring); returns the :class:`Counts`."""
    if clear:
        clear_clinical_data()
    return CohortWriter(patients=patients, cycles=cycles, sites=sites, seed=seed,
                        batch_size=batch_size, out=out, today=today).run(through=through)
