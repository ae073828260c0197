from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts import languages
from accounts.models import Membership, RolePolicy, Site
from accounts.roles import Role
from coding.services import ctcae_load
from core.services import record_save
from demo import cohort
from demo.treatment import build_course, build_medications
from patients import rules
from patients.models import Diagnosis, MalignancyHistory, Patient
from visits.models import TreatmentCycle


def _birth_year_for(age, on):
    """A year of birth that gives ``age`` on ``on`` (mid-year imputation)."""
    for year in (on.year - age, on.year - age - 1, on.year - age + 1):
        if rules.age_at(on, year) == age:
            return year
    raise ValueError(age)


class Command(BaseCommand):
    help = ("Create the demo study: 2 sites, one user per role and a French-speaking clinician "
            "at site 02 (password DEMO_PASSWORD) and an 11-patient cohort shaped like the reference study. Idempotent.")

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true",
                            help="Allow seeding demo users when DEBUG is off.")
        parser.add_argument("--reset-passwords", action="store_true",
                            help="Set every demo user's password back to DEMO_PASSWORD (this signs "
                                 "them out everywhere). Without it, existing users keep theirs.")

    def handle(self, *args, force=False, reset_passwords=False, **options):
        if not settings.DEBUG and not force:
            raise CommandError("Refusing to create demo users with known passwords while DEBUG "
                               "is off. Use --force if this really is a demo server.")
        with transaction.atomic():
            ctcae_load()  # the AE coding dictionary (idempotent; the migration loaded it too)
            sites = self._sites()
            users, reset = self._users(sites, reset_passwords=reset_passwords)
            created = self._patients(sites, users["admin"])
        self.stdout.write(self.style.SUCCESS(
            f"Demo study ready: {len(sites)} sites, {len(users)} users, "
            f"{Patient.objects.count()} patients ({created} new), "
            f"{TreatmentCycle.objects.count()} treatment cycles."))
        if reset:
            self.stdout.write(f"Passwords set to the demo password for: {', '.join(reset)}.")
        self.stdout.write("Demo logins (password: %s, unless changed since; --reset-passwords "
                          "restores it):" % settings.DEMO_PASSWORD)
        for username, (role, site, _first, _last, language) in cohort.USERS.items():
            where = f"site {site}" if site else "all sites"
            self.stdout.write(f"  {username:<13} {role:<13} {where}" + (f", in {language}" if language else ""))

    def _sites(self):
        sites = {}
        for code, name, zone, country in cohort.SITES:
            site, _ = Site.objects.get_or_create(code=code, defaults={"name": name, "time_zone": zone,
                                                                      "country": country})
            sites[code] = site
        return sites

    def _users(self, sites, *, reset_passwords=False):
        """The demo users and their memberships. A user created now gets the demo
        password; an existing user keeps theirs (changing it would sign them out of
        every session) unless ``reset_passwords``. Returns (users, names reset)."""
        users, reset = {}, []
        for username, (role, site_code, first, last, language) in cohort.USERS.items():
            user, created = User.objects.get_or_create(username=username)
            user.first_name, user.last_name = first, last
            user.email = f"{username}@example.org"
            # The admin is staff (Django admin) with the admin role's permissions, not a
            # superuser: roles hold for everyone.
            user.is_staff, user.is_superuser = role == "admin", False
            if created or reset_passwords:
                user.set_password(settings.DEMO_PASSWORD)
                reset.append(username)
            user.save()
            Membership.objects.get_or_create(user=user, role=role,
                                             site=sites[site_code] if site_code else None)
            if created and language:
                # Her own choice afterwards (profile page, navbar switch) survives a re-seed.
                languages.choose(user, language)
            users[username] = user
        # Two-factor authentication is required for nobody in the demo (an admin turns it on
        # per role in the Django admin, Role policies); anybody may still set it up.
        for role in Role:
            RolePolicy.objects.get_or_create(role=role.value, defaults={"require_two_factor": False})
        return users, reset

    def _patients(self, sites, author):
        created = 0
        for p in cohort.PATIENTS:
            if Patient.objects.filter(subject_id=p.subject_id).exists():
                continue
            onset = cohort.onset_for(p)
            course = cohort.COURSES[p.subject_id]
            patient = record_save(user=author, instance=Patient(
                subject_id=p.subject_id, site=sites[p.subject_id[:2]], sex=p.sex,
                birth_year=_birth_year_for(p.age, p.enrolment), race="WHITE",
                consent_date=p.enrolment - timedelta(days=7),
                enrolment_date=p.enrolment, symptom_onset_date=onset,
                active_myopathy=True, ctd_associated=False,
                suspected_cause=p.cause, suspected_cause_detail=p.cause_detail,
                thrombotic_risk=course.thrombotic_risk, status="on_study",
                thrombotic_risk_since=p.enrolment if course.thrombotic_risk else None,
            ))
            weakness, biopsy, enzymes, emg = p.bp
            diagnosis = Diagnosis(
                patient=patient, kind=p.kind,
                diagnosis_date=onset + (p.enrolment - onset) * 3 // 4,
                bp_weakness=weakness, bp_biopsy=biopsy, bp_enzymes=enzymes, bp_emg=emg,
                biopsy_performed=biopsy,
                biopsy_perimysial_infiltrate=biopsy and p.kind == "DM",
                biopsy_perifascicular_atrophy=biopsy and p.kind == "DM",
                biopsy_endomysial_infiltrate=biopsy and p.kind == "PM",
                **{name: True for name in p.signs},
            )
            record_save(user=author, instance=diagnosis)
            for m in p.malignancies:
                record_save(user=author, instance=MalignancyHistory(
                    patient=patient, malignancy_type=m.malignancy_type,
                    diagnosis_date=p.enrolment + timedelta(days=m.diagnosed_offset_days),
                    status=m.status, certainty=m.certainty, notes=m.notes,
                ))
            build_course(patient, course, author)
            build_medications(patient, author)
            created += 1
        return created
