import statistics

import pytest
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command
from django.test import RequestFactory

from accounts.models import Membership
from patients.models import MalignancyHistory, Patient

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded(settings):
    settings.DEBUG = True
    call_command("seed_demo", verbosity=0)


def test_cohort_is_shaped_like_the_reference_study(seeded):
    patients = list(Patient.objects.with_related())
    assert len(patients) == 11
    assert sum(p.sex == "F" for p in patients) == 6
    assert sum(p.diagnosis.kind == "PM" for p in patients) == 5
    assert sum(p.diagnosis.kind == "DM" for p in patients) == 6
    ages = [p.age_at_enrolment for p in patients]
    assert round(statistics.mean(ages), 1) == 55.6
    durations = [float(p.disease_duration_at_enrolment_months) for p in patients]
    assert round(statistics.mean(durations), 1) == 9.6
    assert min(durations) == 1.0 and max(durations) == 36.0
    assert MalignancyHistory.objects.count() == 4
    assert Patient.objects.filter(suspected_cause="viral", suspected_cause_detail__icontains="coxsackie").count() == 1
    assert Patient.objects.filter(suspected_cause="drug").count() == 1
    for p in patients:  # every record passes the same rules as the forms
        p.full_clean()
        p.diagnosis.full_clean()


def test_seed_is_idempotent_and_users_can_log_in(seeded, settings):
    call_command("seed_demo", verbosity=0)
    assert Patient.objects.count() == 11
    assert Membership.objects.count() == 6
    request = RequestFactory().post("/accounts/login/")
    for username in ("clinician", "investigator", "coordinator", "monitor", "admin", "clinicien-02"):
        assert authenticate(request, username=username, password=settings.DEMO_PASSWORD)


@pytest.mark.req("URS-AUD-006")
def test_history_rows_name_the_seeding_user(seeded):
    row = Patient.history.filter(subject_id="01-001").earliest()
    assert row.history_user.username == "admin"


def test_refused_when_debug_is_off(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG"):
        call_command("seed_demo", verbosity=0)
    call_command("seed_demo", "--force", verbosity=0)
    assert Patient.objects.count() == 11


def test_demo_courses_match_the_reference_outcomes(seeded):
    from safety.models import AdverseEvent
    from visits.models import Assessment, ProtocolDeviation, TreatmentCycle

    counts = [TreatmentCycle.objects.filter(patient=p).count() for p in Patient.objects.all()]
    assert min(counts) == 2 and max(counts) == 6 and sum(counts) / len(counts) == 4
    ck_responders = mmt_improved = 0
    for patient in Patient.objects.all():
        assessments = list(Assessment.objects.filter(patient=patient).order_by("assessment_date"))
        first, last = assessments[0], assessments[-1]
        ck_responders += (first.ck_u_per_l - last.ck_u_per_l) / first.ck_u_per_l > 0.5
        mmt_improved += (last.mmt_total - first.mmt_total) / first.mmt_total >= 0.2
    assert (ck_responders, mmt_improved) == (8, 3)
    reaction = AdverseEvent.objects.get()
    assert (reaction.grade, reaction.serious, reaction.infusion is not None) == (1, False, True)
    kinds = set(ProtocolDeviation.objects.values_list("kind", flat=True))
    assert kinds == {"underdose", "window", "rate", "missing_day"}


def test_a_second_seed_keeps_changed_passwords_and_sessions(seeded, settings, client):
    """`make run` twice: the demo users' own passwords and open sessions survive;
    --reset-passwords restores the demo password on request."""
    from django.contrib.auth.models import User

    user = User.objects.get(username="clinician")
    user.set_password("a-new-Passw0rd-of-mine")
    user.save()
    client.force_login(user)
    assert client.get("/patients/").status_code == 200

    call_command("seed_demo", verbosity=0)
    request = RequestFactory().post("/accounts/login/")
    assert authenticate(request, username="clinician", password="a-new-Passw0rd-of-mine")
    assert client.get("/patients/").status_code == 200  # still signed in

    call_command("seed_demo", "--reset-passwords", verbosity=0)
    assert authenticate(request, username="clinician", password=settings.DEMO_PASSWORD)
    assert client.get("/patients/").status_code in (302, 403)  # the reset signed the session out


def test_a_french_speaking_clinician_at_site_02(seeded, settings, client):
    """Issue 16: ``clinicien-02`` works at site 02 in French (her profile's language),
    logs in with the demo password and sees French pages; a re-seed keeps her own
    later choice."""
    from django.contrib.auth.models import User

    from accounts import languages

    user = User.objects.select_related("profile").get(username="clinicien-02")
    assert user.profile.language == "fr"
    assert languages.language_of(user) == "fr"
    assert [(m.role, m.site.code if m.site else None) for m in user.memberships.select_related("site")] == [
        ("clinician", "02")]
    request = RequestFactory().post("/accounts/login/")
    assert authenticate(request, username="clinicien-02", password=settings.DEMO_PASSWORD)

    # Logged in through the form: her stored language, whatever the browser asks for.
    response = client.post("/accounts/login/", {"username": "clinicien-02", "password": settings.DEMO_PASSWORD},
                           HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 302
    page = client.get("/patients/", HTTP_ACCEPT_LANGUAGE="en")
    assert page.status_code == 200
    assert page["Content-Language"] == "fr"
    html = page.content.decode()
    assert '<html lang="fr"' in html
    assert "Se déconnecter" in html
    assert "02-001" in html and "01-001" not in html  # site 02's patients only

    languages.choose(user, "en")
    call_command("seed_demo", verbosity=0)
    assert User.objects.get(username="clinicien-02").profile.language == "en"
    assert Membership.objects.filter(user__username="clinicien-02").count() == 1


def test_the_other_demo_users_keep_the_browsers_language(seeded):
    from accounts.models import Profile

    assert not Profile.objects.exclude(user__username="clinicien-02").exclude(language="").exists()


def test_demo_sites_have_their_country(seeded):
    from accounts.models import Site

    assert dict(Site.objects.values_list("code", "country")) == {"01": "FRA", "02": "FRA"}
    for site in Site.objects.all():
        site.full_clean()
