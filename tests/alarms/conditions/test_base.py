"""The shared on/off-delay (``Debounce``) completes at its start + delay on the engine's clock,
while the newest sample was good: rate of change, deviation from a program and sensor-quality
alarms, with 1 s polls stamped a fraction of a millisecond early."""

from __future__ import annotations

from alarms.model import AlarmState
from monitor.core.model import Quality
from tests.support.alarm_engine import Factory, Harness, at

from .test_deviation import crf
from .test_rate import KEY as RATE_KEY
from .test_rate import rate_rule
from .test_signals import TEMP, unit

S = AlarmState
JITTER = 0.00035
DEVIATION_KEY = "crf.chamber/chamber_deviation"  # template: +/-5 C for 1 min
QUALITY_KEY = "u.t/fault"


async def warming(h: Harness, start: int, end: int) -> None:
    """A reading a second rising 1 C/min, each after the first stamped early."""
    for t in range(start, end + 1):
        await h.push("box.t", -80.0 + t / 60, t - JITTER if t > start else t)


async def test_a_rate_on_delay_completes_exactly_at_its_end(engine_factory: Factory) -> None:
    h = await engine_factory(**rate_rule(on_delay="10s", min_points=10, window="1m"))
    await warming(h, 0, 31)  # the slope is known once 30 s (half the window) are covered
    since = h.engine._life.points[RATE_KEY].condition.debounce.since  # type: ignore[attr-defined]
    assert since == at(31 - JITTER) and h.state(RATE_KEY) is S.NORMAL
    await warming(h, 32, 40)  # the reading of 41 s would be stamped 40.99965 s
    await h.to(41 - JITTER - 0.001)
    assert h.state(RATE_KEY) is S.NORMAL
    await h.to(41 - JITTER)
    view = h.view(RATE_KEY)
    assert view.state is S.UNACK and view.raised_at == at(41 - JITTER)  # since + 10 s
    assert view.value is not None and 0.9 < float(view.value) < 1.1


async def test_a_rate_on_delay_is_blocked_by_a_bad_reading(engine_factory: Factory) -> None:
    h = await engine_factory(**rate_rule(on_delay="10s", min_points=10, window="1m"))
    await warming(h, 0, 35)
    await h.push("box.t", None, 36, Quality.COMM_ERROR)
    await h.to(45)
    assert h.state(RATE_KEY) is S.NORMAL
    await h.push("box.t", -80.0 + 46 / 60, 46)
    assert h.view(RATE_KEY).raised_at == at(46)


async def test_a_deviation_on_delay_completes_exactly_at_its_end(engine_factory: Factory) -> None:
    h = await engine_factory(**crf())
    for t in range(0, 20):
        stamp = t - JITTER if t else 0
        await h.push("crf.program", -20.0, stamp)
        await h.push("crf.chamber", -10.0 if t >= 5 else -20.0, stamp)  # 10 C off from 5 s
    await h.to(65 - JITTER - 0.001)
    assert h.state(DEVIATION_KEY) is S.NORMAL
    await h.to(65)
    view = h.view(DEVIATION_KEY)
    assert view.state is S.UNACK and view.raised_at == at(5 - JITTER) + (at(60) - at(0))


async def test_a_sensor_fault_on_delay_completes_at_its_end_unless_comm_is_lost(
    engine_factory: Factory,
) -> None:
    rules = {"fault": {"condition": "quality", "channel": "t", "on_delay": "10s"}}
    h = await engine_factory(**unit("other", [TEMP], rules))
    for t in range(0, 8):
        await h.push("u.t", None, t - JITTER if t else 0, Quality.SENSOR_FAULT)
    await h.push("u.t", None, 8, Quality.COMM_ERROR)  # unknown from here
    await h.to(12)
    assert h.state(QUALITY_KEY) is S.NORMAL
    await h.push("u.t", None, 13, Quality.SENSOR_FAULT)  # still faulty, past the delay's end
    assert h.view(QUALITY_KEY).raised_at == at(13)

    rules2 = {"fault2": {"condition": "quality", "channel": "t", "on_delay": "10s"}}
    h2 = await engine_factory(**unit("other", [TEMP], rules2))
    start = h2.t
    await h2.push("u.t", None, start, Quality.SENSOR_FAULT)
    await h2.push("u.t", None, start + 9.9996, Quality.SENSOR_FAULT)
    await h2.to(start + 10)
    assert h2.view("u.t/fault2").raised_at == at(start + 10)


async def test_a_lagging_sensor_fault_waits_for_its_own_readings(engine_factory: Factory) -> None:
    """Readings stamped 5 min behind the engine's clock: one faulty reading does not complete
    a 10 s on-delay on the clock; ten seconds of the device's own readings do."""
    rules = {"fault": {"condition": "quality", "channel": "t", "on_delay": "10s"}}
    h = await engine_factory(**unit("other", [TEMP], rules))
    for t in range(0, 3):
        await h.to(300 + t)
        await h.push("u.t", None, t, Quality.SENSOR_FAULT)
    await h.to(330)
    assert h.state(QUALITY_KEY) is S.NORMAL  # 2 s of faults on its own clock
    await h.push("u.t", -80.0, 3)  # good again: cancelled
    for t in range(20, 31):
        await h.to(300 + t)
        await h.push("u.t", None, t, Quality.SENSOR_FAULT)
    view = h.view(QUALITY_KEY)
    assert view.state is S.UNACK and view.raised_at == at(30) and view.since == at(20)


async def test_a_lagging_rate_waits_for_its_own_readings(engine_factory: Factory) -> None:
    h = await engine_factory(**rate_rule(on_delay="10s", min_points=10, window="1m"))
    for t in range(0, 40):
        await h.to(300 + t)
        await h.push("box.t", -80.0 + t / 60, t)  # the slope is known from 30 s
    await h.to(400)
    assert h.state(RATE_KEY) is S.NORMAL  # 30 ... 39 s: the on-delay needs a reading at 40
    await h.push("box.t", -80.0 + 40 / 60, 40)
    assert h.view(RATE_KEY).raised_at == at(40)
