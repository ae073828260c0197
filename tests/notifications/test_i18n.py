"""Notices in each person's language (issue 16): the e-mails of one serious adverse event
go out, in one run, in French to a French-speaking investigator (dd/mm/yyyy dates) and in
English to an English-speaking monitor and to the pharmacovigilance address (the study's
default); the stored notice stays in the source language; the in-app list is written in
the reader's language; the recipients' languages cost no query each."""

from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone, translation

from accounts.languages import choose
from jobs.worker import run_pending
from notifications import services
from notifications.models import Notice
from notifications.rules import Kind
from safety import services as safety_services
from safety.models import AdverseEvent
from tests.conftest import _user_with_role
from tests.patients.factories import PatientFactory

pytestmark = pytest.mark.django_db

PV = "pharmacovigilance@sponsor.example"


@pytest.fixture
def people(site_a, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SAE_NOTIFY_EMAILS = [PV]

    def user(role, site, name, language):
        u = _user_with_role(role, site, username=name)
        u.email = f"{name}@example.org"
        u.save()
        choose(u, language)
        return u
    return {"fr": user("investigator", site_a, "investigatrice", "fr"),
            "en": user("monitor", None, "monitor", "en"),
            "default": user("admin", None, "admin", "")}  # no choice: the study's default


def _sae(site, user, aware_at):
    patient = PatientFactory(site=site, subject_id="01-007")
    return safety_services.adverse_event_save(event=AdverseEvent(
        patient=patient, term="Aseptic meningitis", onset_date=timezone.localdate(aware_at) - timedelta(days=1),
        grade=3, serious=True, serious_hospitalisation=True, relatedness="possible", outcome="recovering",
        aware_at=aware_at), user=user)


def _mail_to(address):
    [message] = [m for m in mail.outbox if address in m.to]
    return message


def test_each_recipient_gets_the_sae_email_in_their_language(people, site_a, clinician):
    aware_at = timezone.now() - timedelta(minutes=5)
    with translation.override("fr"):  # whatever language the worker happens to be in
        event = _sae(site_a, clinician, aware_at)
        run_pending()
    assert len(mail.outbox) == 4
    onset = event.onset_date

    french = _mail_to("investigatrice@example.org")
    assert french.subject == "[IVIG EDC] Événement indésirable grave : 01-007, Aseptic meningitis"
    assert "Un événement indésirable grave (EIG) a été déclaré." in french.body
    assert "Patient : 01-007 (centre 01)" in french.body
    assert f"Début : {onset:%d/%m/%Y}" in french.body  # dd/mm/yyyy
    assert "Revue attendue le : " in french.body and f"/oversight/adverse-events/{event.pk}/" in french.body
    assert "Serious adverse event" not in french.body

    for address in ("monitor@example.org", "admin@example.org", PV):
        english = _mail_to(address)
        assert english.subject == "[IVIG EDC] Serious adverse event: 01-007, Aseptic meningitis", address
        assert "A serious adverse event was reported." in english.body
        assert f"Onset: {onset.isoformat()}" in english.body
        assert "requires or prolongs hospitalisation" in english.body
        assert "Événement" not in english.body

    # What is stored is the source language, whoever the recipient.
    for notice in Notice.objects.filter(kind=Kind.SAE):
        assert notice.subject == "[IVIG EDC] Serious adverse event: 01-007, Aseptic meningitis"
        assert notice.body.startswith("A serious adverse event was reported.")
        assert notice.params["subject_id"] == "01-007" and notice.params["onset"] == onset.isoformat()


def test_the_escalation_is_in_the_recipients_language_too(people, site_a, clinician):
    aware_at = timezone.now() - timedelta(hours=25)
    event = _sae(site_a, clinician, aware_at)
    run_pending()
    mail.outbox.clear()
    notices = services.sae_escalation_notices_create(event, stage="late")
    from notifications.delivery import deliver

    deliver([n.pk for n in notices])
    french = _mail_to("investigatrice@example.org")
    assert french.subject.startswith("[IVIG EDC] EN RETARD : événement indésirable grave toujours non revu (late)")
    assert "EN RETARD" in french.body
    assert _mail_to("monitor@example.org").subject.startswith("[IVIG EDC] LATE: Serious adverse event")


def test_the_recipients_languages_cost_no_query_each(people, site_a, django_assert_num_queries):
    recipients = services.sae_recipients(site_a.pk)
    users = [r.user for r in recipients if r.user is not None]
    assert len(users) == 3
    from accounts.languages import language_of

    with django_assert_num_queries(0):
        assert sorted(language_of(u) for u in users) == ["en", "en", "fr"]


def test_the_notice_list_is_in_the_readers_language(people, site_a, clinician, client):
    event = _sae(site_a, clinician, timezone.now() - timedelta(minutes=5))
    run_pending()
    client.force_login(people["fr"])
    html = client.get(reverse("notifications:notice_list"), HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "Événement indésirable grave : 01-007, Aseptic meningitis" in html
    assert "1 notification" in html and "Marquer comme lue" in html
    assert f"{timezone.localtime(Notice.objects.get(user=people['fr'], about_id=event.pk).created_at):%d/%m/%Y}" in html
    client.force_login(people["en"])
    html = client.get(reverse("notifications:notice_list"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "[IVIG EDC] Serious adverse event: 01-007, Aseptic meningitis" in html and "Mark read" in html
