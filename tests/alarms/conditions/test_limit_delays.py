"""Limit on- and off-delays complete at their start + delay on the engine's clock, not at the
first reading after it: 1 s polling whose timestamps jitter a fraction of a millisecond early
must not make a 10 s on-delay take 11 s. A bad reading since the newest good one blocks the
clock; the next good reading decides."""

from __future__ import annotations

from pathlib import Path

from alarms.model import AlarmState, Level
from monitor.core.model import Quality
from tests.support.alarm_engine import KEY, Factory, Harness, at, cfg, make_config

S = AlarmState
JITTER = 0.00035  # each poll's timestamp 0.35 ms early, as measured on a site


async def poll(h: Harness, value: float, start: int, end: int) -> None:
    """One reading a second at ``start`` ... ``end`` (inclusive), each after the first
    stamped early."""
    await h.push("box.t", value, start)
    for t in range(start + 1, end + 1):
        await h.push("box.t", value, t - JITTER)


async def test_an_on_delay_completes_exactly_at_its_end(engine_factory: Factory) -> None:
    h = await engine_factory(**cfg(on_delay="10s"))
    await poll(h, 11.0, 0, 9)  # the reading at 10 s would be stamped 9.99965 s
    await h.push("box.t", 11.0, 10 - JITTER)
    await h.to(10 - 0.0001)
    assert h.state(KEY) is S.NORMAL
    await h.to(10)
    view = h.view(KEY)
    assert view.state is S.UNACK and view.raised_at == at(10) and view.since == at(0)
    assert view.value == 11.0 and view.limit == 10.0
    assert h.kinds(KEY) == ["raised"]


async def test_an_on_delay_completes_on_the_clock_between_sparse_readings(
    engine_factory: Factory,
) -> None:
    h = await engine_factory(**cfg(on_delay="10s"))
    await h.push("box.t", 11.0, 0)
    await h.push("box.t", 11.5, 6)  # a device that reports every 6 s
    await h.to(10)
    view = h.view(KEY)
    assert view.state is S.UNACK and view.raised_at == at(10) and view.value == 11.5


async def test_a_bad_reading_since_the_newest_good_one_blocks_the_clock(
    engine_factory: Factory,
) -> None:
    h = await engine_factory(**cfg(on_delay="10s"))
    await poll(h, 11.0, 0, 4)
    await h.push("box.t", None, 5, Quality.COMM_ERROR)
    await h.to(11.9)
    assert h.state(KEY) is S.NORMAL  # the value is unknown since 5 s: no completion
    await h.push("box.t", 11.0, 12)  # the next good reading past the limit decides
    view = h.view(KEY)
    assert view.state is S.UNACK and view.raised_at == at(12) and view.since == at(0)


async def test_a_bad_reading_followed_by_good_ones_does_not_hold_the_delay(
    engine_factory: Factory,
) -> None:
    h = await engine_factory(**cfg(on_delay="10s"))
    await poll(h, 11.0, 0, 4)
    await h.push("box.t", None, 5, Quality.SENSOR_FAULT)
    await poll(h, 11.0, 6, 9)  # good again, past the limit: the clock completes it
    await h.to(10)
    assert h.view(KEY).raised_at == at(10)


async def test_a_reading_back_inside_cancels_the_on_delay(engine_factory: Factory) -> None:
    h = await engine_factory(**cfg(on_delay="10s"))
    await poll(h, 11.0, 0, 6)
    await h.push("box.t", 9.0, 7 - JITTER)  # inside: cancelled
    await h.push("box.t", 11.0, 8 - JITTER)  # past again: a new delay from here
    await h.to(17.999)
    assert h.state(KEY) is S.NORMAL and h.kinds(KEY) == []
    await h.to(18)
    assert h.view(KEY).raised_at == at(18 - JITTER)  # its start + 10 s


async def test_an_off_delay_completes_exactly_at_its_end(engine_factory: Factory) -> None:
    h = await engine_factory(**cfg(off_delay="10s"))
    await h.push("box.t", 11.0, 0)
    assert h.state(KEY) is S.UNACK
    await poll(h, 9.0, 20, 29)  # inside from 20 s
    await h.push("box.t", 9.0, 30 - JITTER)
    await h.to(29.999)
    assert h.view(KEY).active
    await h.to(30)
    view = h.view(KEY)
    assert not view.active and view.state is S.RTN_UNACK and view.changed_at == at(30)
    assert h.kinds(KEY) == ["raised", "returned-to-normal"]


async def test_an_off_delay_is_blocked_by_a_bad_reading_and_cancelled_by_one_past_the_limit(
    engine_factory: Factory,
) -> None:
    h = await engine_factory(**cfg(off_delay="10s"))
    await h.push("box.t", 11.0, 0)
    await poll(h, 9.0, 20, 24)
    await h.push("box.t", None, 25, Quality.COMM_ERROR)
    await h.to(35)
    assert h.view(KEY).active  # unknown since 25 s: the alarm holds
    await h.push("box.t", 11.0, 36)  # past the limit again: the off-delay is cancelled
    await poll(h, 9.0, 37, 46)
    await h.to(46.9)
    assert h.view(KEY).active
    await h.to(47)
    assert not h.view(KEY).active and h.view(KEY).changed_at == at(47)


async def test_each_level_completes_its_own_delay_on_the_clock(engine_factory: Factory) -> None:
    h = await engine_factory(**cfg(high_high=20, on_delay="10s"))
    await h.push("box.t", 11.0, 0)
    await h.push("box.t", 21.0, 4)  # past high-high from 4 s
    await h.to(10)
    assert h.view(KEY).level is Level.HIGH and h.view(KEY).raised_at == at(10)
    await h.to(13.9)
    assert h.view(KEY).level is Level.HIGH
    await h.to(14)
    assert h.view(KEY).level is Level.HIGH_HIGH
    await h.to(60)  # nothing left pending: the engine's timer is idle, no busy loop
    assert h.kinds(KEY) == ["raised", "severity-raised"]
    assert h.engine.next_due() is None or h.engine.next_due() > at(60)


async def test_after_a_restart_the_first_good_reading_decides(engine_factory: Factory) -> None:
    """The pending delay survives the restart, but the engine does not complete it on a value
    read before it: the first reading after the restart does (past the end: at once)."""
    h = await engine_factory(**cfg(on_delay="10s"))
    await poll(h, 11.0, 0, 3)
    await h.to(4)  # the timer checkpoint is written
    h2 = await engine_factory(restart=True, **cfg(on_delay="10s"))
    await h2.to(12)
    assert h2.state(KEY) is S.NORMAL
    await h2.push("box.t", 11.0, 12.5)
    view = h2.view(KEY)
    assert view.state is S.UNACK and view.raised_at == at(12.5) and view.since == at(0)


async def test_after_a_restart_polling_on_completes_at_the_end(engine_factory: Factory) -> None:
    h = await engine_factory(**cfg(on_delay="10s"))
    await poll(h, 11.0, 0, 3)
    await h.to(4)
    h2 = await engine_factory(restart=True, **cfg(on_delay="10s"))
    for t in range(5, 10):
        await h2.push("box.t", 11.0, t - JITTER)
    await h2.to(10)
    assert h2.view(KEY).raised_at == at(10)


async def test_after_a_restart_a_reading_inside_cancels(engine_factory: Factory) -> None:
    h = await engine_factory(**cfg(on_delay="10s"))
    await poll(h, 11.0, 0, 3)
    await h.to(4)
    h2 = await engine_factory(restart=True, **cfg(on_delay="10s"))
    await h2.push("box.t", 9.0, 5)
    await h2.to(30)
    assert h2.state(KEY) is S.NORMAL


async def test_a_reload_keeps_an_unchanged_rules_delay(
    engine_factory: Factory, tmp_path: Path
) -> None:
    h = await engine_factory(**cfg(on_delay="10s"))
    await poll(h, 11.0, 0, 3)
    same = tmp_path / "same"
    same.mkdir()
    h.engine.reload(make_config(same, **cfg(on_delay="10s")), "qa-lead")
    await poll(h, 11.0, 4, 9)
    await h.to(10)
    assert h.view(KEY).raised_at == at(10)


async def test_a_reload_restarts_a_changed_rules_delay(
    engine_factory: Factory, tmp_path: Path
) -> None:
    h = await engine_factory(**cfg(on_delay="10s"))
    await poll(h, 11.0, 0, 3)
    changed = tmp_path / "changed"
    changed.mkdir()
    h.engine.reload(make_config(changed, **cfg(on_delay="12s")), "qa-lead")
    await h.to(14)
    assert h.state(KEY) is S.NORMAL  # nothing pending: the changed rule starts again
    await poll(h, 11.0, 14, 20)  # its first reading past the limit at 14 s
    await h.to(25.999)
    assert h.state(KEY) is S.NORMAL
    await h.to(26)
    assert h.view(KEY).raised_at == at(26) and h.view(KEY).since == at(14)
