"""Issue 12, finding 6, as properties: a look-alike identifier or a free text with an
invisible or control character is refused with a field error on every capture
form, and nothing is stored; the same text without it is accepted."""

import pytest
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from .support import INVISIBLE_CHARACTERS, LOOK_ALIKE_DIGITS, hostile_settings, isolated, page, post_form
from .test_capture_forms import AE, EDIT, PATIENT, assessment, infusion

pytestmark = pytest.mark.django_db

N = 15
WORDS = st.text(st.characters(categories=("L", "N", "P", "Zs"), exclude_characters="\x85\u2028\u2029"),
                min_size=1, max_size=12).map(str.strip).filter(bool)
#: Multi-line text around one invisible or control character (never tab, newline or CR).
POISONED = st.tuples(WORDS, st.sampled_from(INVISIBLE_CHARACTERS), WORDS).map("".join)
LOOK_ALIKE_ID = st.tuples(st.sampled_from(LOOK_ALIKE_DIGITS), st.sampled_from(["01-", ""]), st.booleans()).map(
    lambda t: f"{t[1]}{t[0] * 3}"[:6] if t[2] else f"01-0{t[0]}"[:6])


def refused(client, url, base, field, value):
    with isolated():
        outcome, response = post_form(client, url, {**base, field: value})
        assert outcome == "error", (url, field, value)


def form_case(browser, world, name):
    patient = world.patient.pk
    cases = {
        "patient": ("clinician", reverse("patients:patient_create"),
                    {**PATIENT, "site": str(world.site.pk)}, ["suspected_cause_detail"]),
        "withdraw": ("clinician", reverse("patients:patient_withdraw", args=[patient]),
                     {"withdrawal_date": "2025-05-01", "withdrawal_reason": "Moved away"}, ["withdrawal_reason"]),
        "ae": ("clinician", reverse("safety:ae_create", args=[patient]), AE, ["term", "description"]),
        "ae_edit": ("clinician", reverse("safety:ae_update", args=[patient, world.event.pk]),
                    {**EDIT, "description": "After day 1"}, ["change_reason", "description"]),
        "cycle": ("clinician", reverse("visits:cycle_create", args=[patient]),
                  {"cycle-start_date": "2025-04-14", "cycle-weight_kg": "70", "cycle-dosing_basis": "actual",
                   **assessment("assessment-", "2025-04-14"), **infusion("day1-", "2025-04-14"),
                   **infusion("day2-", "2025-04-15")}, ["day1-lot", "day2-product"]),
        "query": ("monitor", reverse("oversight:query_create") + f"?patient={patient}",
                  {"target": f"adverseevent:{world.event.pk}:term", "question": "Is this the term?"}, ["question"]),
        "lock": ("admin", reverse("oversight:casebook_lock", args=[patient]), {"reason": "Interim"}, ["reason"]),
    }
    role, url, initial, fields = cases[name]
    client = browser(role)
    base, _ = page(client, url, initial=initial)
    return client, url, base, fields


@pytest.mark.parametrize("name", ["patient", "withdraw", "ae", "ae_edit", "cycle", "query", "lock"])
def test_invisible_characters_are_refused(browser, world, name):
    client, url, base, fields = form_case(browser, world, name)

    @hostile_settings(N)
    @given(field=st.sampled_from(fields), value=POISONED)
    def run(field, value):
        refused(client, url, base, field, value)

    run()


@pytest.mark.req("URS-CHK-006")
def test_look_alike_subject_ids_are_refused(browser, world):
    client, url, base, _ = form_case(browser, world, "patient")

    @hostile_settings(N)
    @given(value=LOOK_ALIKE_ID)
    def run(value):
        refused(client, url, base, "subject_id", value)

    run()
