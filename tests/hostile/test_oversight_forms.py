"""Hostile input into the oversight forms: e-signature (password), lock and
unlock (reason), source data verification, data queries (raise, answer,
close, re-open) and the adverse-event review page (acknowledge, medical
review, follow-up). Same property as the capture forms."""

import pytest
from django.urls import reverse
from django.utils import timezone

from oversight import services
from review import services as review_services
from review.models import DataQuery

from .support import fuzz_form, page

pytestmark = pytest.mark.django_db

N = 12
PASSWORD = "correct horse battery"  # tests.accounts.factories.UserFactory
# A wrong password is logged on purpose (oversight.AccessEvent): a security record, not data.
ACCESS_LOG = ("oversight_accessevent",)


def run(client, url, examples=N, context_name="form", **kwargs):
    base, names = page(client, url, context_name=context_name, initial=kwargs.pop("initial", {}))
    return fuzz_form(client, url, base, names, examples, **kwargs)


@pytest.mark.parametrize("kind", ["cycle", "casebook"])
@pytest.mark.req("URS-CHK-007")
def test_sign(browser, world, kind):
    pk = world.cycle.pk if kind == "cycle" else world.patient.pk
    run(browser("investigator"), reverse(f"oversight:{kind}_sign", args=[pk]), initial={"password": PASSWORD},
        exclude=ACCESS_LOG)


@pytest.mark.parametrize("kind", ["cycle", "casebook"])
def test_lock(browser, world, kind):
    pk = world.cycle.pk if kind == "cycle" else world.patient.pk
    run(browser("admin"), reverse(f"oversight:{kind}_lock", args=[pk]), initial={"reason": "Interim analysis"})


@pytest.mark.parametrize("kind", ["cycle", "casebook"])
def test_unlock(browser, world, kind):
    record = world.cycle if kind == "cycle" else world.patient
    admin = world.users["admin"]

    def lock():
        services.record_lock(record=record, user=admin, reason="Interim analysis")

    url = reverse(f"oversight:{kind}_unlock", args=[record.pk])
    client = browser("admin")
    base, names = page(client, url, initial={"reason": "Query answered: data corrected"})
    fuzz_form(client, url, base, names, N, setup=lock)


def test_source_data_verification(browser, world):
    """No field of its own: hostile extra fields are ignored."""
    client = browser("monitor")
    url = reverse("oversight:cycle_verify", args=[world.cycle.pk])
    fuzz_form(client, url, {}, ["note", "verified_by", "cycle", "csrfmiddlewaretoken"], N)


@pytest.mark.parametrize("where", ["patient", "cycle"])
def test_query_raise(browser, world, where):
    if where == "cycle":
        url = reverse("oversight:query_create") + f"?patient={world.patient.pk}&cycle=1"
        target = f"assessment:{world.cycle.assessment.pk}:ck_u_per_l"
    else:
        url = reverse("oversight:query_create") + f"?patient={world.patient.pk}"
        target = f"adverseevent:{world.event.pk}:term"
    run(browser("monitor"), url, initial={"target": target, "question": "Is this the value of the lab report?"})


@pytest.mark.parametrize("role,action", [("clinician", "answer"), ("monitor", "close")])
def test_query_thread(browser, world, role, action):
    url = reverse("oversight:query_detail", args=[world.query.pk])
    base = {"action": action, "text": "Weight checked against the chart: 70 kg."}
    fuzz_form(browser(role), url, base, {"action": None, "text": None}, N)


def test_query_reopen(browser, world):
    monitor = world.users["monitor"]

    def close():
        review_services.query_close(query=DataQuery.objects.get(pk=world.query.pk), user=monitor, text="Answered")

    url = reverse("oversight:query_detail", args=[world.query.pk])
    fuzz_form(browser("monitor"), url, {"action": "reopen", "text": "Still not matching the chart"},
              {"action": None, "text": None}, N, setup=close)


def ae_page(client, world, form):
    return page(client, reverse("oversight:ae_detail", args=[world.event.pk]), context_name=form)


def test_ae_acknowledge(browser, world):
    client = browser("monitor")
    base, names = ae_page(client, world, "acknowledge_form")
    base["ack-comment"] = "Seen; medical review to follow"
    fuzz_form(client, reverse("oversight:ae_acknowledge", args=[world.event.pk]), base, names, N)


def test_ae_medical_review(browser, world):
    client = browser("monitor")
    base, names = ae_page(client, world, "review_form")
    base.update({"review-comment": "Consistent with IVIG headache", "review-reviewer_relatedness": "probable"})
    fuzz_form(client, reverse("oversight:ae_review", args=[world.event.pk]), base, names, N)


def test_ae_follow_up(browser, world):
    client = browser("clinician")
    base, names = ae_page(client, world, "follow_up_form")
    base.update({"fu-follow_up_date": "2025-03-25", "fu-note": "Headache gone after paracetamol",
                 "fu-outcome": "recovered", "fu-end_date": "2025-03-24"})
    fuzz_form(client, reverse("oversight:ae_follow_up", args=[world.event.pk]), base, names, N)


def test_unlock_reason_is_required_and_kept(browser, world):
    """The unlock reason is the history row's reason: blank is a field error."""
    admin = world.users["admin"]
    services.record_lock(record=world.cycle, user=admin, reason="")
    client = browser("admin")
    response = client.post(reverse("oversight:cycle_unlock", args=[world.cycle.pk]), {"reason": " \u200b "})
    assert response.status_code in (200, 302)
    world.cycle.refresh_from_db()
    if response.status_code == 302:  # a zero-width space is text: accepted and recorded
        assert world.cycle.locked_at is None
    else:
        assert world.cycle.locked_at is not None and world.cycle.locked_at <= timezone.now()
