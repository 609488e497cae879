"""Escalation as timelines on virtual time: tiers climb until someone acknowledges, the
acknowledgement timeout re-opens, the last tier keeps paging after the repeats, return to normal
is told to everyone paged, shelving stops paging, tiers that reach nobody are skipped, and what
every page carries (issue 5 items 13 and 15)."""

from __future__ import annotations

import asyncio

from alarms.model import AlarmState, AnnouncementKind, Level, Priority
from alarms.notify.base import NotifyError
from alarms.notify.sms import compose_sms
from monitor.core.clock import FakeClock
from tests.support.escalation import SOP, Rig, paging, view

K = AnnouncementKind
S = AlarmState
ATTENTION = ("raised", "escalated", "re-alarm")


async def test_tiers_climb_every_15_minutes_until_acknowledged(clock: FakeClock) -> None:
    rig = await Rig(clock).start()
    rig.source.raise_()
    await rig.at(0)
    assert rig.briefs() == [(0, "alice", "raised", 1)]
    await rig.at(14.9)
    assert len(rig.briefs()) == 1
    await rig.at(15)
    await rig.at(30)
    assert rig.briefs() == [
        (0, "alice", "raised", 1),
        (15, "sam", "escalated", 2),
        (30, "quinn", "escalated", 3),
        (30, "rita", "escalated", 3),
    ]
    track = rig.escalator.track("A1007")
    assert track is not None and track.step == 2 and track.status == "running"
    await rig.stop()


async def test_every_page_carries_sop_value_limit_unit_equipment_tier_and_code(
    clock: FakeClock,
) -> None:
    rig = await Rig(clock).start()
    rig.source.raise_()
    await rig.at(15)
    first, second = rig.pages(ATTENTION)
    for page, tier in ((first, 1), (second, 2)):
        n = page.notification
        assert n.alarm_id == "A1007" and n.tier == tier
        assert n.sop == SOP
        assert (n.value, n.limit, n.unit) == (-58.5, -60.0, "C")
        assert n.equipment == "TSX -80 C freezer 07" and n.channel == "cabinet temperature"
        assert (n.condition, n.priority, n.state) == ("high-high", "critical", "UNACK")
        assert n.raised_at == rig.source.views["A1007"].raised_at
        assert n.key == f"esc/h1/p{tier}"
    assert first.channel == "phone"  # Alice's first channel: a call
    await rig.stop()


async def test_acknowledgement_stops_paging_and_tells_everyone_paged(clock: FakeClock) -> None:
    rig = await Rig(clock).start()
    rig.source.raise_()
    await rig.at(20)
    rig.source.ack(person="sam", comment="moving to freezer 09")
    await rig.at(120)
    assert rig.briefs() == [(0, "alice", "raised", 1), (15, "sam", "escalated", 2)]
    told = rig.pages(("acknowledged",))
    assert [(p.minute, p.person, p.channel) for p in told] == [(20, "alice", "sms")]  # no call
    n = told[0].notification
    assert n.acknowledged_by == "Sam Weber" and n.comment == "moving to freezer 09"
    assert rig.escalator.track("A1007").status == "acked"  # type: ignore[union-attr]
    await rig.stop()


async def test_acknowledgement_timeout_reopens_escalation_at_tier_1(clock: FakeClock) -> None:
    rig = await Rig(clock).start()
    rig.source.raise_()
    await rig.at(5)
    rig.source.ack(person="alice")
    await rig.at(65)
    rig.source.realarm()  # the engine: still active 60 min after the acknowledgement
    await rig.at(95)
    assert rig.briefs() == [
        (0, "alice", "raised", 1),
        (65, "alice", "re-alarm", 1),
        (80, "sam", "escalated", 2),
        (95, "quinn", "escalated", 3),
        (95, "rita", "escalated", 3),
    ]
    assert rig.escalator.track("A1007").cycle == 2  # type: ignore[union-attr]
    await rig.stop()


async def test_after_the_repeats_the_last_tier_keeps_paging_for_hours(clock: FakeClock) -> None:
    rig = await Rig(clock).start()
    rig.source.raise_()
    await rig.at(6 * 60)
    briefs = rig.briefs()
    first_pass = [(0, "alice", "raised", 1), (15, "sam", "escalated", 2)]
    second_pass = [(45, "alice", "escalated", 1), (60, "sam", "escalated", 2)]
    assert briefs[:2] == first_pass and briefs[4:6] == second_pass
    later = [b for b in briefs if b[0] > 75]
    assert {(person, tier) for _, person, _, tier in later} == {("quinn", 3), ("rita", 3)}
    assert sorted({m for m, *_ in later}) == [90 + 15 * i for i in range(19)]  # until 6 h
    track = rig.escalator.track("A1007")
    assert track is not None and track.step == 24 and track.status == "running"
    await rig.stop()


async def test_return_to_normal_stops_paging_and_is_told_to_everyone_paged(
    clock: FakeClock,
) -> None:
    rig = await Rig(clock).start()
    rig.source.raise_()
    await rig.at(20)
    rig.source.rtn()
    await rig.at(90)
    assert rig.briefs() == [(0, "alice", "raised", 1), (15, "sam", "escalated", 2)]
    told = rig.pages(("returned-to-normal",))
    assert [(p.minute, p.person) for p in told] == [(20, "alice"), (20, "sam")]
    assert all(p.notification.state == "RTN_UNACK" for p in told)
    assert told[0].notification.title == "BACK TO NORMAL, NOT ACKED"
    assert rig.escalator.track("A1007").status == "paused"  # type: ignore[union-attr]
    rig.source.ack(person="sam")  # for the record: RTN_UNACK -> NORMAL
    await rig.at(91)
    assert rig.escalator.track("A1007") is None
    assert [p.person for p in rig.pages(("acknowledged",))] == ["alice"]
    await rig.stop()


async def test_a_recurrence_nobody_acknowledged_carries_on_from_the_tier_reached(
    clock: FakeClock,
) -> None:
    rig = await Rig(clock).start()
    rig.source.raise_()
    await rig.at(20)
    rig.source.rtn()
    await rig.at(25)
    rig.source.recur()
    await rig.at(40)
    assert rig.briefs() == [
        (0, "alice", "raised", 1),
        (15, "sam", "escalated", 2),
        (25, "sam", "re-alarm", 2),
        (40, "quinn", "escalated", 3),
        (40, "rita", "escalated", 3),
    ]
    await rig.stop()


async def test_severity_raised_pages_the_current_tier_at_once_and_keeps_the_timing(
    clock: FakeClock,
) -> None:
    rig = await Rig(clock).start()
    rig.source.raise_(priority=Priority.HIGH, level=Level.HIGH)
    await rig.at(5)
    worse = view(priority=Priority.CRITICAL, level=Level.HIGH_HIGH)
    rig.source.emit(K.SEVERITY_RAISED, worse)
    await rig.at(15)
    assert rig.briefs() == [
        (0, "alice", "raised", 1),
        (5, "alice", "re-alarm", 1),
        (15, "sam", "escalated", 2),
    ]
    pages = rig.pages(ATTENTION)
    assert pages[1].notification.priority == "critical"
    assert pages[1].notification.condition == "high-high"
    await rig.stop()


async def test_shelving_stops_paging_and_unshelving_starts_again(clock: FakeClock) -> None:
    rig = await Rig(clock).start()
    rig.source.raise_()
    await rig.at(5)
    rig.source.shelve()
    await rig.at(60)
    assert rig.briefs() == [(0, "alice", "raised", 1)]
    assert rig.escalator.track("A1007") is None
    rig.source.recur()  # the engine announces "raised" when a shelve ends and it is active
    await rig.at(75)
    assert rig.briefs()[1:] == [(60, "alice", "raised", 1), (75, "sam", "escalated", 2)]
    await rig.stop()


async def test_a_latched_alarm_keeps_paging_after_its_condition_clears(clock: FakeClock) -> None:
    rig = await Rig(clock).start()
    rig.source.latched.add("A1007")
    rig.source.raise_()
    await rig.at(5)
    rig.source.rtn()
    await rig.at(30)
    assert [b[0] for b in rig.briefs()] == [0, 15, 30, 30]
    assert rig.pages(("returned-to-normal",)) == []
    assert rig.pages(ATTENTION)[-1].notification.state == "LATCHED_UNACK"
    await rig.stop()


async def test_late_found_excursion_is_paged_until_acknowledged(clock: FakeClock) -> None:
    rig = await Rig(clock).start()
    found = view(state=S.RTN_UNACK, active=False, late=True)
    rig.source.emit(K.LATE_FOUND, found, late=True)
    await rig.at(15)
    pages = rig.pages(ATTENTION)
    assert [p.brief for p in pages] == [(0, "alice", "raised", 1), (15, "sam", "escalated", 2)]
    assert pages[0].notification.late and pages[0].notification.title == "ALARM"
    await rig.stop()


async def test_a_tier_that_reaches_nobody_moves_on_at_once(clock: FakeClock) -> None:
    rig = Rig(clock)
    rig.notifiers["phone"].script = [NotifyError("busy", retryable=False)]
    rig.notifiers["sms"].script = [NotifyError("21211 invalid number", retryable=False)]
    await rig.start()
    rig.source.raise_()
    await rig.at(1)
    assert sorted((p.minute, p.person, p.channel) for p in rig.pages(ATTENTION)) == [
        (0, "alice", "phone"),
        (0, "alice", "sms"),
        (0, "sam", "sms"),  # Alice could not be reached: the supervisor at once
    ]
    await rig.at(15)
    assert [p.brief for p in rig.pages(ATTENTION)][-2:] == [
        (15, "quinn", "escalated", 3),
        (15, "rita", "escalated", 3),
    ]
    await rig.stop()


async def test_an_empty_schedule_moves_on_to_the_next_tier(clock: FakeClock) -> None:
    data = paging().model_dump()
    data["schedules"]["techs"]["overrides"] = []
    data["schedules"]["techs"]["layers"][0]["restrict"] = {"days": ["sat"]}  # 2026-03-01: Sun
    rig = await Rig(clock, paging_config=type(paging()).model_validate(data)).start()
    rig.source.raise_()
    await rig.at(0)
    assert rig.briefs() == [(0, "sam", "escalated", 2)]
    await rig.stop()


async def test_a_slow_page_delays_nobody_else(clock: FakeClock) -> None:
    rig = Rig(clock)
    rig.notifiers["phone"].script = ["hang"]  # Alice's call never returns
    await rig.start()
    rig.source.raise_()
    rig.source.raise_("A1015", key="freezer-08.cabinet_temp/warm")
    await rig.at(15)
    assert (15, "sam", "escalated", 2) in rig.briefs()
    assert len([b for b in rig.briefs() if b[1] == "sam"]) == 2
    await rig.stop()


async def test_the_callback_only_queues(clock: FakeClock) -> None:
    rig = Rig(clock)
    rig.escalator.on_announcement(rig.source.raise_())  # not subscribed yet: direct call
    assert rig.pages() == [] and len(rig.escalator._queue) == 1
    await rig.start()
    await rig.at(0)
    assert rig.briefs() == [(0, "alice", "raised", 1)]
    await rig.stop()


async def test_routes_choose_the_policy(clock: FakeClock) -> None:
    quick = {
        "tiers": [{"notify": ["person:bob"], "wait": "5m"}, {"notify": ["group:qa"], "wait": "5m"}],
        "repeat": 0,
    }
    config = paging(
        policies={**paging().escalation.policies, "quick": quick},  # type: ignore[union-attr]
        routes=[{"match": {"priority": "low"}, "policy": "quick"}],
    )
    rig = await Rig(clock, paging_config=config).start()
    rig.source.raise_("A1015", priority=Priority.LOW, key="incubator-02.co2/co2")
    rig.source.raise_()
    await rig.at(10)
    briefs = rig.briefs()
    assert (0, "bob", "raised", 1) in briefs and (5, "quinn", "escalated", 2) in briefs
    assert (0, "alice", "raised", 1) in briefs and (10, "quinn", "escalated", 2) in briefs
    await rig.stop()


async def test_stop_cancels_pages_in_flight(clock: FakeClock) -> None:
    rig = Rig(clock)
    rig.notifiers["phone"].script = ["hang"]
    await rig.start()
    rig.source.raise_()
    await rig.at(0.1)
    assert rig.escalator._jobs.all
    await rig.escalator.stop()
    assert not rig.escalator._jobs.all
    await asyncio.sleep(0)


async def test_shelving_tells_those_paged_and_silences_the_horn(clock: FakeClock) -> None:
    policy = {
        "tiers": [
            {"notify": ["schedule:techs", "person:lab-horn"], "wait": "15m"},
            {"notify": ["person:sam"], "wait": "15m"},
        ]
    }
    rig = await Rig(clock, paging_config=paging(policies={"cold": policy})).start()
    rig.source.raise_()
    await rig.at(5)
    rig.source.shelve()  # by Sam, "defrost"
    await rig.at(6)
    told = rig.pages(("silenced",))
    assert sorted((p.minute, p.person, p.channel) for p in told) == [
        (5, "alice", "sms"),  # not a phone call: nothing to acknowledge
        (5, "lab-horn", "horn"),  # the horn lets go of the alarm
    ]
    sms = next(p.notification for p in told if p.person == "alice")
    assert (sms.title, sms.acknowledged_by, sms.comment) == ("SHELVED", "Sam Weber", "defrost")
    assert not sms.needs_ack
    text = compose_sms(sms)
    assert "SHELVED by Sam Weber" in text and '"defrost"' in text and "Reply ACK" not in text
    await rig.stop()
