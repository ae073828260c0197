"""The notification rules, without a database."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from notifications import rules
from notifications.rules import Kind, Preference

T0 = datetime(2026, 12, 4, 18, 30, tzinfo=ZoneInfo("UTC"))  # a Friday evening


@pytest.mark.parametrize("elapsed, stages", [
    (timedelta(hours=0), []),
    (timedelta(hours=11, minutes=59, seconds=59), []),
    (timedelta(hours=12), ["12h"]),
    (timedelta(hours=19, minutes=59), ["12h"]),
    (timedelta(hours=20), ["12h", "20h"]),
    (timedelta(hours=24), ["12h", "20h"]),  # due at 24 hours: late only past it
    (timedelta(hours=24, seconds=1), ["12h", "20h", "late"]),
    (timedelta(days=5), ["12h", "20h", "late"]),
])
@pytest.mark.req("URS-INC-003")
def test_escalation_stages_by_time_since_awareness(elapsed, stages):
    assert rules.escalation_stages(aware_at=T0, now=T0 + elapsed, reviewed=False) == stages


def test_a_reviewed_event_has_no_escalation():
    assert rules.escalation_stages(aware_at=T0, now=T0 + timedelta(hours=30), reviewed=True) == []


def test_late_is_the_safety_clocks_overdue():
    """One rule for "late": the safety app's review clock."""
    from safety.rules import report_due_at, review_clock

    for minutes in (24 * 60 - 1, 24 * 60, 24 * 60 + 1):
        now = T0 + timedelta(minutes=minutes)
        late = "late" in rules.escalation_stages(aware_at=T0, now=now, reviewed=False)
        assert late == review_clock(due_at=report_due_at(T0), now=now).overdue


@pytest.mark.parametrize("kind, email_on, is_monitor, has_address, wanted", [
    (Kind.SAE, {}, False, True, True),  # every switch on by default
    (Kind.SAE, {Preference.SAE: False}, False, True, False),
    (Kind.SAE, {Preference.SAE: False}, True, True, True),  # a monitor always gets SAEs
    (Kind.SAE_ESCALATION, {Preference.SAE: False}, True, True, True),
    (Kind.SAE, {}, True, False, False),  # no address: in-app only
    (Kind.QUERY_RAISED, {Preference.QUERY: False}, True, True, False),  # only SAEs are forced
    (Kind.QUERY_ANSWERED, {Preference.QUERY: True}, False, True, True),
    (Kind.DIGEST, {Preference.DIGEST: False}, False, True, False),
])
def test_email_wanted(kind, email_on, is_monitor, has_address, wanted):
    assert rules.email_wanted(kind=kind, email_on=email_on, is_monitor=is_monitor, has_address=has_address) is wanted


@pytest.mark.req("URS-INC-003")
def test_a_monitor_cannot_turn_sae_emails_off():
    off = {Preference.SAE: False, Preference.QUERY: True, Preference.DIGEST: False}
    [violation] = rules.preference_violations(email_on=off, is_monitor=True)
    assert (violation.field, violation.code) == ("email_sae", "monitor_sae_required")
    assert rules.preference_violations(email_on=off, is_monitor=False) == []
    assert rules.preference_violations(email_on={**off, Preference.SAE: True}, is_monitor=True) == []


def test_every_kind_has_its_switch():
    assert set(rules.PREFERENCE_OF) == set(Kind)


@pytest.mark.parametrize("reached, sent, send", [
    ([], set(), None),
    (["12h"], set(), "12h"),
    (["12h"], {"12h"}, None),
    (["12h", "20h"], {"12h"}, "20h"),
    (["12h", "20h", "late"], set(), "late"),  # a worker down for a day: the latest only
    (["12h", "20h", "late"], {"late"}, None),  # the missed ones are not sent afterwards
])
def test_escalation_to_send(reached, sent, send):
    assert rules.escalation_to_send(reached=reached, sent=sent) == send
