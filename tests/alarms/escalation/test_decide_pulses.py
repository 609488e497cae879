"""The escalation's decisions for a pulse that pages once (``once``): pure timelines on
:func:`decide` / :func:`decide_due`, and which alarms page once (:meth:`Setup.pages_once`)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from alarms.escalation.decide import CancelPages, Page, Record, Tell, decide, decide_due
from alarms.escalation.policy import Router, build_policies
from alarms.escalation.recovery import found_at_start
from alarms.escalation.setup import build_setup
from alarms.escalation.state import Track
from alarms.model import AlarmState, Announcement, AnnouncementKind, ConditionKind, Priority
from alarms.rules.model import Rule
from tests.support.escalation import paging, view

T0 = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)
K = AnnouncementKind
S = AlarmState
_ESCALATION = paging().escalation
assert _ESCALATION is not None
ESCALATION = _ESCALATION
POLICY = build_policies(ESCALATION)["cold"]
GAP = view(
    "A1015",
    priority=Priority.HIGH,
    key="coldwatch/monitoring_gap",
    level=None,
    value=None,
    condition=ConditionKind.SYSTEM,
)
NOTE = "a pulse, back to normal when raised: paged once, waits for an acknowledgement"


def minute(offset: float) -> datetime:
    return T0 + timedelta(minutes=offset)


def raised_once() -> Track:
    announcement = Announcement("h1", 1, K.RAISED, T0, T0, GAP)
    opened = decide(announcement, None, now=T0, policy=POLICY, late_after=300.0, once=True)
    assert opened.track is not None and opened.track.once
    return opened.track


def test_the_first_tier_is_paged_once_and_nothing_more_falls_due() -> None:
    first = decide_due(raised_once(), now=T0, policy=POLICY)
    step0 = POLICY.step(0)
    assert step0 is not None
    assert first.actions == (Page("raised", step0, climbing=True), Record("stopped", detail=NOTE))
    track = first.track
    assert track is not None and (track.status, track.step, track.due) == ("running", 0, None)


def test_a_tier_that_reached_nobody_hands_on_to_the_next_once() -> None:
    track = decide_due(raised_once(), now=T0, policy=POLICY).track
    assert track is not None
    track.due = T0  # what paging does when tier 1 reached nobody
    second = decide_due(track, now=T0, policy=POLICY)
    step1 = POLICY.step(1)
    assert step1 is not None and second.actions[0] == Page("escalated", step1, climbing=True)
    assert second.track is not None and second.track.due is None


def test_after_a_restart_a_recurrence_pages_the_tier_reached_once_again() -> None:
    track = decide_due(raised_once(), now=T0, policy=POLICY).track
    assert track is not None
    rtn = replace(GAP, state=S.RTN_UNACK, base_state=S.RTN_UNACK, active=False)
    paused = found_at_start(track, rtn, minute(30)).track
    assert paused is not None and paused.status == "paused"
    again = Announcement("h3", 3, K.RAISED, minute(40), minute(40), GAP)
    recurred = decide(again, paused, now=minute(40), policy=POLICY, late_after=300.0)
    step0 = POLICY.step(0)
    assert step0 is not None and recurred.actions == (Page("re-alarm", step0),)
    assert recurred.track is not None and recurred.track.due is None


def test_an_acknowledgement_closes_it_and_tells_those_paged() -> None:
    track = decide_due(raised_once(), now=T0, policy=POLICY).track
    normal = replace(GAP, state=S.NORMAL, base_state=S.NORMAL, active=False)
    ack = Announcement("h2", 2, K.ACKNOWLEDGED, minute(90), minute(90), normal, person="sam")
    acked = decide(ack, track, now=minute(90), policy=POLICY, late_after=300.0)
    assert acked.closed
    assert acked.actions == (
        CancelPages(),
        Record("acknowledged", closed=True),
        Tell("acknowledged"),
    )


def test_once_survives_the_record() -> None:
    track = raised_once()
    assert Track.from_json(track.to_json()).once
    old_row = track.to_json()
    del old_row["once"]  # a row written before the field existed
    assert not Track.from_json(old_row).once


def rule(key: str, *, pulse: bool, latching: bool = False) -> Rule:
    return Rule(
        key=key,
        rule_id=key.rsplit("/", 1)[-1],
        kind=ConditionKind.SYSTEM,
        source="coldwatch",
        name=key,
        priority=Priority.HIGH,
        contingency="",
        latching=latching,
        pulse=pulse,
    )


def test_which_alarms_page_once() -> None:
    rules = {
        "coldwatch/monitoring_gap": rule("coldwatch/monitoring_gap", pulse=True),
        "coldwatch/engine_fault": rule("coldwatch/engine_fault", pulse=True, latching=True),
        "coldwatch/disk_low": rule("coldwatch/disk_low", pulse=False),
    }
    setup = replace(build_setup(paging()), router=Router(ESCALATION, rules=rules))
    assert setup.pages_once(GAP)
    assert not setup.pages_once(replace(GAP, priority=Priority.CRITICAL))  # never quiet
    assert not setup.pages_once(replace(GAP, key="coldwatch/engine_fault"))  # latched
    assert not setup.pages_once(replace(GAP, key="coldwatch/disk_low"))  # clears by itself
    assert not setup.pages_once(replace(GAP, key="fr.temp/warm"))  # a rule it does not know
