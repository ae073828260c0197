"""HTML typed into free-text fields is stored as text and always shown escaped.

Hostile HTML goes in through the forms, as the right role (patient detail,
malignancy notes, adverse-event term and description, reasons for change, a
data query's question and answer, the AE review comment and follow-up note, a
lock reason); then every page that shows it (patient detail, timeline, AE
list, AE listing and review page, audit trail, query thread and list,
dashboard) must contain the escaped text and never the raw markup.
"""

import pytest
from django.urls import reverse
from django.utils.html import escape
from hypothesis import given
from hypothesis import strategies as st

from patients.models import Patient
from review.models import DataQuery
from safety.models import AdverseEvent

from .support import RAW_MARKERS, hostile_settings, isolated, page

pytestmark = pytest.mark.django_db

TOKENS = st.text(st.sampled_from("abcXYZ019'\"&;<>/=éש💉"), min_size=1, max_size=6)
SHAPES = st.sampled_from([
    '<script>alert("{t}")</script>',
    "<img src=x onerror=alert('{t}')>",
    '"><script>alert({t})</script><"',
    "</textarea><script>alert('{t}')</script>",
    "<svg onload=alert(1)>{t}</svg>'; DROP TABLE patients_patient; --",
])


def posted(client, url, data):
    response = client.post(url, data)
    assert response.status_code == 302, (url, response.status_code,
                                         response.context and [f.errors for f in response.context
                                                               if hasattr(f, "errors")])
    return response


def enter_everywhere(browser, world, text):
    """Put ``text`` in every free-text field, through the pages."""
    clinician, monitor, admin = browser("clinician"), browser("monitor"), browser("admin")
    patient, event = world.patient, world.event
    reason = f"Reason {text}"

    url = reverse("patients:patient_update", args=[patient.pk])
    data, _ = page(clinician, url, initial={"suspected_cause": "other", "suspected_cause_detail": text,
                                            "change_reason": reason})
    posted(clinician, url, data)

    url = reverse("patients:malignancy_update", args=[patient.pk, world.malignancy.pk])
    data, _ = page(clinician, url, initial={"malignancy_type": f"Type {text}", "notes": text,
                                            "change_reason": reason})
    posted(clinician, url, data)

    url = reverse("safety:ae_update", args=[patient.pk, event.pk])
    data, _ = page(clinician, url, initial={"term": text, "description": text, "change_reason": reason})
    posted(clinician, url, data)

    posted(monitor, reverse("oversight:query_create") + f"?patient={patient.pk}",
           {"target": f"adverseevent:{event.pk}:term", "question": text})
    query = DataQuery.objects.latest("pk")
    posted(clinician, reverse("oversight:query_detail", args=[query.pk]), {"action": "answer", "text": text})

    detail = reverse("oversight:ae_detail", args=[event.pk])
    data, _ = page(monitor, detail, context_name="review_form",
                   initial={"review-comment": text, "review-reviewer_relatedness": "possible"})
    posted(monitor, reverse("oversight:ae_review", args=[event.pk]), data)
    data, _ = page(clinician, detail, context_name="follow_up_form",
                   initial={"fu-follow_up_date": "2025-03-25", "fu-note": text, "fu-outcome": "recovering"})
    posted(clinician, reverse("oversight:ae_follow_up", args=[event.pk]), data)

    posted(admin, reverse("oversight:cycle_lock", args=[world.cycle.pk]), {"reason": text})
    return query


@hostile_settings(4)
@given(shape=SHAPES, token=TOKENS)
@pytest.mark.req("URS-CHK-006")
def test_html_is_escaped_wherever_it_is_shown(browser, world, shape, token):
    text = shape.replace("{t}", token)
    with isolated():
        query = enter_everywhere(browser, world, text)
        assert Patient.objects.get(pk=world.patient.pk).suspected_cause_detail == text  # stored as typed
        assert AdverseEvent.objects.get(pk=world.event.pk).term == text
        admin, clinician = browser("admin"), browser("clinician")
        shown = escape(text)
        pages = {
            reverse("patients:patient_detail", args=[world.patient.pk]): (admin, True),
            reverse("visits:timeline", args=[world.patient.pk]): (admin, True),
            reverse("safety:ae_list"): (admin, True),
            reverse("oversight:ae_listing"): (admin, True),
            reverse("oversight:ae_queue"): (admin, True),
            reverse("oversight:ae_detail", args=[world.event.pk]): (admin, True),
            reverse("oversight:audit_trail"): (admin, True),
            reverse("oversight:audit_trail") + f"?patient={world.patient.subject_id}": (admin, True),
            reverse("oversight:query_detail", args=[query.pk]): (clinician, True),
            reverse("oversight:query_list") + "?status=": (admin, False),
            reverse("oversight:dashboard"): (clinician, False),
            reverse("patients:patient_list"): (admin, False),
        }
        for url, (client, must_show) in pages.items():
            response = client.get(url)
            assert response.status_code == 200, url
            content = response.content.decode()
            for marker in (*RAW_MARKERS, "<svg onload", "</textarea><script"):
                assert marker not in content, f"{url}: unescaped {marker!r}"
            if must_show:
                assert shown in content, f"{url}: the escaped text {shown!r} is not shown"
