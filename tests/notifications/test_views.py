"""The notifications pages: one's own notices only, mark read, the unread count, the
e-mail preferences (a monitor's SAE switch refused with a field error)."""

import pytest
from django.urls import reverse
from django.utils import timezone

from notifications.models import Notice, NotificationPreference
from notifications.rules import Kind

pytestmark = pytest.mark.django_db


def notice(user, n=1, **fields):
    return Notice.objects.create(user=user, recipient_key=f"user:{user.pk}", kind=Kind.QUERY_RAISED,
                                 about_type="review.dataquerymessage", about_id=n, subject=f"Query {n} for {user}",
                                 body="A data query was raised.\nSubject: 01-001", link="/oversight/queries/",
                                 created_at=timezone.now(), **fields)


def test_the_list_shows_ones_own_notices_and_the_unread_count(client_for, clinician, clinician_b):
    mine, theirs = notice(clinician, 1), notice(clinician_b, 2)
    notice(clinician, 3, read_at=timezone.now())
    page = client_for(clinician).get(reverse("notifications:notice_list"))
    assert page.status_code == 200
    assert mine.subject.encode() in page.content and theirs.subject.encode() not in page.content
    assert page.context["unread_count"] == 1 and page.context["paginator"].count == 2
    assert client_for(clinician).get(reverse("notifications:unread_count")).json() == {"unread": 1}


def test_mark_one_read_then_all(client_for, clinician):
    first, second = notice(clinician, 1), notice(clinician, 2)
    client = client_for(clinician)
    response = client.post(reverse("notifications:notice_read"), {"notice": first.pk})
    assert response.status_code == 302
    first.refresh_from_db(), second.refresh_from_db()
    assert first.read_at is not None and second.read_at is None
    client.post(reverse("notifications:notice_read"), {"all": "1"})
    assert not Notice.objects.for_user(clinician).unread().exists()


def test_another_users_notice_cannot_be_marked_read(client_for, clinician, clinician_b):
    theirs = notice(clinician_b, 1)
    response = client_for(clinician).post(reverse("notifications:notice_read"), {"notice": theirs.pk}, follow=True)
    assert response.status_code == 200
    theirs.refresh_from_db()
    assert theirs.read_at is None
    assert b"Select a valid choice" in response.content


def test_preferences_page_saves_the_switches(client_for, clinician):
    client = client_for(clinician)
    assert client.get(reverse("notifications:preferences")).status_code == 200
    response = client.post(reverse("notifications:preferences"), {"email_sae": "on", "email_query": ""})
    assert response.status_code == 302
    preference = NotificationPreference.objects.get(user=clinician)
    assert (preference.email_sae, preference.email_query, preference.email_digest) == (True, False, False)


def test_a_monitor_cannot_turn_sae_emails_off(client_for, monitor):
    response = client_for(monitor).post(reverse("notifications:preferences"), {"email_query": "on"})
    assert response.status_code == 200
    assert [e.code for e in response.context["form"].errors.as_data()["email_sae"]] == ["monitor_sae_required"]
    assert not NotificationPreference.objects.filter(user=monitor).exists()
    ok = client_for(monitor).post(reverse("notifications:preferences"), {"email_sae": "on"})
    assert ok.status_code == 302
    assert NotificationPreference.objects.get(user=monitor).email_query is False


def test_the_navigation_links_the_notifications(client_for, clinician):
    page = client_for(clinician).get(reverse("notifications:notice_list"))
    assert b'id="nav-notifications"' in page.content and b"js/notifications.js" in page.content
    assert b'data-url="/notifications/unread/"' in page.content
