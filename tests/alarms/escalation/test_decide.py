"""The escalation's decisions on their own: no asyncio, no clock, no notifiers. Each test is a
timeline: announcements and due steps fed to :func:`decide` / :func:`decide_due` in turn, the
track of each decision carried to the next, the actions asserted at every point.

The policy is the escalation tests' ``cold``: on call, supervisor, QA, 15 min each, run twice,
then QA every 15 min until acknowledged."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from alarms.escalation.decide import (
    CancelPages,
    Decision,
    FloodChanged,
    Page,
    Record,
    Tell,
    decide,
    decide_due,
)
from alarms.escalation.policy import Policy, Step, build_policies
from alarms.escalation.recovery import found_at_start, opened_at_start
from alarms.escalation.state import Track
from alarms.model import AlarmState, AlarmView, Announcement, AnnouncementKind
from tests.support.escalation import paging, view

T0 = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)
LATE_AFTER = 300.0


def minute(offset: float) -> datetime:
    return T0 + timedelta(minutes=offset)


def cold(**escalation: Any) -> Policy:
    config = paging(**escalation).escalation
    assert config is not None
    return build_policies(config)["cold"]


POLICY = cold()


def step(index: int) -> Step:
    found = POLICY.step(index)
    assert found is not None
    return found


def announce(
    kind: AnnouncementKind,
    alarm: AlarmView | None,
    at: datetime,
    *,
    seq: int = 1,
    person: str | None = None,
    late: bool = False,
) -> Announcement:
    return Announcement(f"h{seq}", seq, kind, at, at, alarm, late=late, person=person)


def on(
    kind: AnnouncementKind,
    track: Track | None,
    at: datetime,
    alarm: AlarmView | None = None,
    **options: Any,
) -> Decision:
    """``decide`` for an announcement made at ``at`` and handled then."""
    announcement = announce(kind, alarm or view(), at, **options)
    return decide(announcement, track, now=at, policy=POLICY, late_after=LATE_AFTER)


def followed(decision: Decision) -> Track:
    assert decision.track is not None
    return decision.track


def raised_and_paged() -> Track:
    """Raised at T0, tier 1 paged at once."""
    track = followed(on(AnnouncementKind.RAISED, None, T0))
    return followed(decide_due(track, now=T0, policy=POLICY))


def test_a_raise_opens_a_track_due_now_and_the_steps_climb_the_tiers_on_time() -> None:
    opened = on(AnnouncementKind.RAISED, None, T0)
    assert opened.actions == (Record("opened"),)
    track = followed(opened)
    assert (track.status, track.due, track.step, track.first_kind) == ("running", T0, -1, "raised")

    first = decide_due(track, now=T0, policy=POLICY)
    assert first.actions == (Page("raised", step(0), climbing=True),)
    track = followed(first)
    assert (track.step, track.due) == (0, minute(15))

    second = decide_due(track, now=minute(15), policy=POLICY)
    assert second.actions == (Page("escalated", step(1), climbing=True),)
    track = followed(second)
    third = decide_due(track, now=minute(30), policy=POLICY)
    track = followed(third)
    assert third.actions == (Page("escalated", step(2), climbing=True),)
    assert (track.step, track.due) == (2, minute(45))


def test_the_track_given_is_never_changed() -> None:
    track = raised_and_paged()
    before = track.to_json()
    on(AnnouncementKind.ACKNOWLEDGED, track, minute(5), view(state=AlarmState.ACKED), person="sam")
    decide_due(track, now=minute(15), policy=POLICY)
    on(AnnouncementKind.RETURNED_TO_NORMAL, track, minute(6), view(state=AlarmState.RTN_UNACK))
    assert track.to_json() == before


def test_an_acknowledgement_stops_paging_tells_those_paged_and_a_realarm_restarts_at_tier_1() -> (
    None
):
    track = raised_and_paged()
    acked = on(
        AnnouncementKind.ACKNOWLEDGED, track, minute(5), view(state=AlarmState.ACKED), person="sam"
    )
    assert acked.actions == (CancelPages(), Record("acknowledged"), Tell("acknowledged"))
    track = followed(acked)
    assert (track.status, track.due) == ("acked", None)

    realarm = on(AnnouncementKind.REALARM, track, minute(65), seq=3)
    assert realarm.actions == (Record("restarted"),)
    track = followed(realarm)
    assert (track.status, track.step, track.cycle, track.due) == ("running", -1, 2, minute(65))
    first = decide_due(track, now=minute(65), policy=POLICY)
    assert first.actions == (Page("re-alarm", step(0), climbing=True),)


def test_an_acknowledgement_after_return_to_normal_closes_and_tells() -> None:
    track = raised_and_paged()
    paused = on(
        AnnouncementKind.RETURNED_TO_NORMAL, track, minute(3), view(state=AlarmState.RTN_UNACK)
    )
    acked = on(
        AnnouncementKind.ACKNOWLEDGED, followed(paused), minute(4), view(state=AlarmState.NORMAL)
    )
    assert acked.closed
    assert acked.actions == (
        CancelPages(),
        Record("acknowledged", closed=True),
        Tell("acknowledged"),
    )


def test_return_to_normal_unacknowledged_pauses_and_a_recurrence_carries_on_from_the_tier() -> None:
    track = raised_and_paged()
    track = followed(decide_due(track, now=minute(15), policy=POLICY))  # tier 2
    paused = on(
        AnnouncementKind.RETURNED_TO_NORMAL, track, minute(20), view(state=AlarmState.RTN_UNACK)
    )
    assert paused.actions == (CancelPages(), Record("paused"), Tell("returned-to-normal"))
    track = followed(paused)
    assert (track.status, track.due) == ("paused", None)

    recurred = on(AnnouncementKind.RAISED, track, minute(40), seq=4)
    assert recurred.actions == (Page("re-alarm", step(1)),)
    track = followed(recurred)
    assert (track.status, track.step, track.due) == ("running", 1, minute(55))


def test_a_recurrence_before_the_first_page_resumes_at_tier_1_now() -> None:
    track = followed(on(AnnouncementKind.RAISED, None, T0))
    paused = followed(
        on(AnnouncementKind.RETURNED_TO_NORMAL, track, T0, view(state=AlarmState.RTN_UNACK))
    )
    resumed = on(AnnouncementKind.RAISED, paused, minute(2))
    assert resumed.actions == (Record("resumed"),)
    assert followed(resumed).due == minute(2)


def test_a_severity_raise_pages_the_current_tier_again_and_keeps_the_timing() -> None:
    track = raised_and_paged()
    raised = on(AnnouncementKind.SEVERITY_RAISED, track, minute(7), seq=2)
    assert raised.actions == (Page("re-alarm", step(0)),)
    assert followed(raised).due == minute(15)


def test_attention_before_the_first_page_is_only_recorded() -> None:
    track = followed(on(AnnouncementKind.RAISED, None, T0))
    again = on(AnnouncementKind.SEVERITY_RAISED, track, T0, seq=2)
    assert again.actions == (Record("updated"),)
    assert followed(again).due == T0


def test_a_latched_alarm_back_in_range_keeps_being_paged() -> None:
    track = raised_and_paged()
    latched = on(
        AnnouncementKind.RETURNED_TO_NORMAL, track, minute(3), view(state=AlarmState.LATCHED_UNACK)
    )
    assert latched.actions == (Record("updated"),)
    assert (followed(latched).status, followed(latched).due) == ("running", minute(15))


@pytest.mark.parametrize(
    ("kind", "state", "told"),
    [
        (AnnouncementKind.SILENCED, AlarmState.SHELVED, (Tell("silenced"),)),
        (AnnouncementKind.RETIRED, AlarmState.NORMAL, ()),
        (AnnouncementKind.RESET, AlarmState.NORMAL, ()),
    ],
)
def test_shelving_retiring_and_resetting_end_the_escalation(
    kind: AnnouncementKind, state: AlarmState, told: tuple[Tell, ...]
) -> None:
    ended = on(kind, raised_and_paged(), minute(3), view(state=state))
    assert ended.closed and followed(ended).due is None
    assert ended.actions == (CancelPages(), Record(kind.value, closed=True), *told)


def test_a_policy_that_stops_after_its_repeats_stops() -> None:
    once = {"tiers": [{"notify": ["person:sam"]}], "repeat": 0, "keep_paging": False}
    policy = cold(policies={"cold": once})
    track = followed(on(AnnouncementKind.RAISED, None, T0))
    track = followed(decide_due(track, now=T0, policy=policy))
    stopped = decide_due(track, now=minute(15), policy=policy)
    assert stopped.actions == (Record("stopped", detail="the policy's repeats are spent"),)
    assert followed(stopped).due is None and followed(stopped).status == "running"


def test_an_event_reported_late_opens_a_late_track() -> None:
    on_time = on(AnnouncementKind.RAISED, None, T0)
    assert not followed(on_time).late
    announcement = announce(AnnouncementKind.LATE_FOUND, view(), T0)
    found = decide(announcement, None, now=minute(6), policy=POLICY, late_after=LATE_AFTER)
    assert followed(found).late and followed(found).first_kind == "raised"


@pytest.mark.parametrize(
    ("kind", "active"),
    [(AnnouncementKind.FLOOD_STARTED, True), (AnnouncementKind.FLOOD_ENDED, False)],
)
def test_a_flood_beginning_or_ending_is_passed_on(kind: AnnouncementKind, active: bool) -> None:
    flood = announce(kind, None, T0)
    decision = decide(flood, None, now=T0, policy=None, late_after=LATE_AFTER)
    assert decision == Decision(None, (FloodChanged(active),))


def test_an_announcement_about_no_open_escalation_changes_nothing() -> None:
    acked = view(state=AlarmState.ACKED)
    assert on(AnnouncementKind.ACKNOWLEDGED, None, T0, acked) == Decision(None)


def test_attention_needs_the_policy() -> None:
    with pytest.raises(ValueError, match="policy"):
        decide(
            announce(AnnouncementKind.RAISED, view(), T0), None, now=T0, policy=None, late_after=1.0
        )


def test_found_at_start_follows_the_engine() -> None:
    track = raised_and_paged()
    gone = found_at_start(track, None, minute(5))
    assert gone.closed and gone.actions == (CancelPages(), Record("closed", closed=True))
    acked = found_at_start(track, view(state=AlarmState.ACKED), minute(5))
    assert acked.actions == (Record("acked", detail="found so at start"),)
    assert followed(acked).due is None
    same = found_at_start(track, view(), minute(5))
    assert same.actions == () and followed(same).due == minute(15)
    realarmed = found_at_start(followed(acked), view(), minute(70))
    track = followed(realarmed)
    assert (track.status, track.step, track.cycle, track.due) == ("running", -1, 2, minute(70))


def test_an_unacknowledged_alarm_without_a_track_at_start_opens_one_late() -> None:
    alarm = replace(view(), raised_at=T0)
    opened = opened_at_start(alarm, minute(10), POLICY, LATE_AFTER)
    assert opened.actions == (Record("opened", detail="unacknowledged at start"),)
    track = followed(opened)
    assert (track.id, track.due, track.late) == ("sA1007-20260302T031000", minute(10), True)
