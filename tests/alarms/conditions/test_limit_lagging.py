"""Delays on data whose timestamps lag the engine's clock: the clock completes a delay at its
end only for fresh readings (live, stamped within FRESH_WITHIN of their arrival), counting from
when the engine saw the delay's first reading arrive. A device whose timestamps lag (a slow
clock, a buffer sent after a reconnect, readings flagged late) is judged on its own timestamps:
one reading past a limit never raises, one reading back inside never clears. And no change is
timed before the change it follows, whatever order the readings arrive in."""

from __future__ import annotations

from alarms.model import AlarmState
from monitor.core.model import FLAG_LATE
from tests.support.alarm_engine import KEY, Factory, Harness, at, cfg

S = AlarmState
JITTER = 0.00035
LAG = 300.0  # the device's clock 5 min behind (inside MQTT's max_backfill, so accepted)


async def lagging(h: Harness, value: float, start: int, end: int, flags: int = 0) -> None:
    """A reading a second stamped ``start`` ... ``end`` on the device's clock, each arriving
    LAG seconds later on the engine's."""
    for t in range(start, end + 1):
        await h.to(t + LAG)
        await h.push("box.t", value, t, flags=flags)


async def test_one_lagging_reading_past_the_limit_does_not_complete_the_on_delay(
    engine_factory: Factory,
) -> None:
    """The reviewer's case: a single reading past the limit, then the next one (1 min later
    on its own clock) inside."""
    h = await engine_factory(**cfg(on_delay="2m"))
    await h.to(300)
    await h.push("box.t", 11.0, 0, flags=FLAG_LATE)  # stamped 300 s ago
    await h.to(301)
    assert h.state(KEY) is S.NORMAL  # 0 s past the limit on its own clock
    await h.push("box.t", 9.0, 60, flags=FLAG_LATE)
    await h.to(700)
    assert h.state(KEY) is S.NORMAL and h.kinds(KEY) == []


async def test_one_lagging_reading_back_inside_does_not_complete_the_off_delay(
    engine_factory: Factory,
) -> None:
    """The reviewer's case: an active alarm does not drop to normal and re-raise."""
    h = await engine_factory(**cfg(off_delay="2m"))
    await h.push("box.t", 11.0, 0)
    assert h.state(KEY) is S.UNACK
    await h.to(600)
    await h.push("box.t", 9.0, 300, flags=FLAG_LATE)
    await h.to(601)
    assert h.view(KEY).active
    await h.push("box.t", 11.0, 310, flags=FLAG_LATE)
    await h.to(900)
    assert h.view(KEY).active and h.kinds(KEY) == ["raised"]


async def test_a_device_lagging_5_min_raises_after_2_min_of_its_own_readings(
    engine_factory: Factory,
) -> None:
    """No flag at all (a slow device clock): the lag alone keeps the engine's clock out."""
    h = await engine_factory(**cfg(on_delay="2m"))
    await lagging(h, 11.0, 0, 119)
    await h.to(119.9 + LAG)
    assert h.state(KEY) is S.NORMAL  # 119 s on its own clock: not yet, and not at once
    await lagging(h, 11.0, 120, 120)
    view = h.view(KEY)
    assert view.state is S.UNACK and view.raised_at == at(120) and view.since == at(0)


async def test_a_lagging_excursion_shorter_than_the_delay_raises_nothing(
    engine_factory: Factory,
) -> None:
    h = await engine_factory(**cfg(on_delay="2m"))
    await lagging(h, 11.0, 0, 100, flags=FLAG_LATE)
    await lagging(h, 9.0, 101, 200, flags=FLAG_LATE)
    await h.to(1000)
    assert h.kinds(KEY) == []


async def test_a_late_flagged_burst_is_judged_on_its_own_timestamps(
    engine_factory: Factory,
) -> None:
    """A buffer sent after a reconnect: 16 s of readings arriving within one moment."""
    h = await engine_factory(**cfg(on_delay="10s"))
    await h.to(1000)
    for t in range(0, 6):
        await h.push("box.t", 11.0, t, flags=FLAG_LATE)
    for t in range(6, 16):
        await h.push("box.t", 9.0, t, flags=FLAG_LATE)
    await h.to(1100)
    assert h.kinds(KEY) == []  # 6 s past the limit: shorter than the on-delay
    for t in range(16, 30):
        await h.push("box.t", 11.0, t, flags=FLAG_LATE)
    view = h.view(KEY)
    assert view.state is S.UNACK and view.raised_at == at(26) and view.late


async def test_a_late_flag_keeps_the_clock_out_even_on_a_close_timestamp(
    engine_factory: Factory,
) -> None:
    h = await engine_factory(**cfg(on_delay="10s"))
    await h.push("box.t", 11.0, 0, flags=FLAG_LATE)
    for t in range(1, 11):
        await h.push("box.t", 11.0, t - JITTER, flags=FLAG_LATE)
    await h.to(10.9)
    assert h.state(KEY) is S.NORMAL  # the 10 s reading was stamped 9.99965 s
    await h.push("box.t", 11.0, 11 - JITTER, flags=FLAG_LATE)
    assert h.view(KEY).raised_at == at(11 - JITTER)


async def test_the_clock_counts_from_when_the_first_reading_arrived(
    engine_factory: Factory,
) -> None:
    """A reading stamped 0 that arrives 0.5 s later (fresh): the clock completes at 10.5 s,
    never less than the delay after the engine first saw the excursion."""
    h = await engine_factory(**cfg(on_delay="10s"))
    for t in range(0, 10):
        await h.to(t + 0.5)
        await h.push("box.t", 11.0, t)
    await h.to(10.4999)
    assert h.state(KEY) is S.NORMAL
    await h.to(10.5)
    view = h.view(KEY)
    assert view.raised_at == at(10.5) and view.since == at(0)


async def test_a_reading_arriving_3_s_late_is_judged_on_its_timestamp(
    engine_factory: Factory,
) -> None:
    h = await engine_factory(**cfg(on_delay="10s"))
    for t in range(0, 10):
        await h.to(t + 3)
        await h.push("box.t", 11.0, t - JITTER if t else 0)
    await h.to(13 + 2.9)
    assert h.state(KEY) is S.NORMAL  # no reading stamped 10 s or later yet
    await h.push("box.t", 11.0, 11 - JITTER)  # stamped 10.99965 s (arriving at 15.9 s)
    assert h.view(KEY).raised_at == at(11 - JITTER)


async def test_a_reading_stamped_before_a_clock_completion_is_timed_after_it(
    engine_factory: Factory,
) -> None:
    """The clock raises at exactly 10 s; the poll stamped 0.35 ms earlier arrives after that,
    back inside (no off-delay): the clear is timed at the raise, not before it."""
    h = await engine_factory(**cfg(on_delay="10s"))
    await h.push("box.t", 11.0, 0)
    for t in range(1, 10):
        await h.push("box.t", 11.0, t - JITTER)
    await h.to(10)
    assert h.view(KEY).raised_at == at(10)
    await h.to(10.002)
    await h.push("box.t", 9.0, 10 - JITTER)
    assert not h.view(KEY).active and h.view(KEY).changed_at == at(10)
    await h.to(11)
    rows = h.store.alarm_records(key=KEY)
    assert [r.action for r in rows] == ["raised", "cleared"]
    assert [r.at for r in rows] == [at(10), at(10)]


async def test_a_reading_stamped_before_a_clock_clear_is_timed_after_it(
    engine_factory: Factory,
) -> None:
    h = await engine_factory(**cfg(off_delay="10s"))
    await h.push("box.t", 11.0, 0)
    await h.push("box.t", 9.0, 20)
    for t in range(21, 30):
        await h.push("box.t", 9.0, t - JITTER)
    await h.to(30)
    assert not h.view(KEY).active and h.view(KEY).changed_at == at(30)
    await h.to(30.002)
    await h.push("box.t", 11.0, 30 - JITTER)  # past the limit again, stamped before the clear
    view = h.view(KEY)
    assert view.active and view.changed_at == at(30) and view.since == at(30)
    await h.to(31)
    rows = h.store.alarm_records(key=KEY)
    assert [r.at for r in rows] == sorted(r.at for r in rows)


async def test_a_door_reported_late_waits_its_delay_after_the_engine_saw_it(
    engine_factory: Factory,
) -> None:
    """Change-only signals still complete on the clock (nothing else will report), but from
    when the engine saw the change, not from its old timestamp."""
    h = await engine_factory()  # the ULT template: door open 5 min
    key = "fr.door/door_open"
    await h.to(1000)
    await h.push("fr.door", 1.0, 700, flags=FLAG_LATE)  # opened 300 s ago by its clock
    await h.to(1001)
    assert h.state(key) is S.NORMAL  # not at once
    await h.to(1299.9)
    assert h.state(key) is S.NORMAL
    await h.to(1300)
    view = h.view(key)
    assert view.state is S.UNACK and view.raised_at == at(1300) and view.since == at(700)


async def test_a_door_closed_in_the_same_late_burst_never_raises(engine_factory: Factory) -> None:
    h = await engine_factory()
    key = "fr.door/door_open"
    await h.to(1000)
    await h.push("fr.door", 1.0, 0, flags=FLAG_LATE)
    await h.push("fr.door", 0.0, 60, flags=FLAG_LATE)  # closed a minute later, same burst
    await h.to(2000)
    assert h.kinds(key) == []
