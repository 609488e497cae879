"""Rate of change: least squares over a window, so noise on a flat trend never alarms."""

from __future__ import annotations

import random
from typing import Any

from alarms.conditions.rate import RateCondition
from alarms.model import AlarmState, Priority
from alarms.rules import Rule
from monitor.core.model import Reading
from tests.support.alarm_engine import Factory, at

KEY = "box.t/rate"


def rate_rule(**rule: Any) -> dict[str, Any]:
    base = {"condition": "rate", "channel": "t", "rise": 0.5, "window": "10m", "min_points": 10}
    return {
        "alarms": {"equipment": {"box": {"rules": {"rate": {**base, **rule}}}}},
        "equipment": [
            {
                "id": "box",
                "kind": "other",
                "channels": [
                    {"id": "t", "quantity": "temperature", "unit": "C", "source": {"device": "dev"}}
                ],
            }
        ],
    }


async def test_24_hours_of_noise_on_a_flat_trend_raise_nothing(engine_factory: Factory) -> None:
    h = await engine_factory(**rate_rule(fall=0.5))
    rng = random.Random(20260301)
    condition = h.engine._life.points[KEY].condition
    assert isinstance(condition, RateCondition)
    steepest = 0.0
    for i in range(24 * 360):  # every 10 s for 24 h
        value = -80.0 + rng.uniform(-0.3, 0.3)
        h.engine.on_reading(Reading.good("box.t", at(i * 10), value))
        slope = condition.slope()
        if slope is not None:
            steepest = max(steepest, abs(slope))
    await h.to(24 * 3600)
    assert h.announced == []
    assert h.engine.get(KEY).state is AlarmState.NORMAL
    assert 0.0 < steepest < 0.05  # slopes were computed, and stayed far below 0.5 C/min


async def test_a_real_warming_trend_raises_then_clears(engine_factory: Factory) -> None:
    h = await engine_factory(**rate_rule())
    rng = random.Random(7)
    value = -80.0
    for i in range(60):  # flat for 10 minutes
        await h.push("box.t", value + rng.uniform(-0.3, 0.3), i * 10)
    assert h.state(KEY) is AlarmState.NORMAL
    raised_at = None
    for i in range(60, 120):  # then warming at 1 C/min
        value += 1.0 / 6
        await h.push("box.t", value + rng.uniform(-0.3, 0.3), i * 10)
        if raised_at is None and h.state(KEY) is AlarmState.UNACK:
            raised_at = i * 10
    assert raised_at is not None and 600 < raised_at <= 900
    view = h.view(KEY)
    assert view.unit == "C/min" and isinstance(view.value, float) and view.value > 0.5
    for i in range(120, 240):  # flat again
        await h.push("box.t", value + rng.uniform(-0.3, 0.3), i * 10)
    assert h.state(KEY) is AlarmState.RTN_UNACK
    assert h.kinds(KEY) == ["raised", "returned-to-normal"]


async def test_too_few_points_or_too_short_a_span_give_no_slope(engine_factory: Factory) -> None:
    h = await engine_factory(**rate_rule())
    for i in range(9):  # a steep rise, but only nine readings in the window
        await h.push("box.t", -80.0 + 5 * i, i * 60)
    assert h.state(KEY) is AlarmState.NORMAL
    h2 = await engine_factory(**rate_rule())
    for i in range(30):  # thirty readings within 29 s: less than half the window
        await h2.push("box.t", -70.0 + i, 1000 + i)
    assert h2.state(KEY) is AlarmState.NORMAL
    await h2.push("box.t", -10.0, 1300)  # now the span is long enough
    assert h2.state(KEY) is AlarmState.UNACK


def test_incremental_sums_match_a_direct_fit() -> None:
    rule = Rule(
        key="k",
        rule_id="r",
        kind=RateCondition.kind,
        source="c",
        name="n",
        priority=Priority.HIGH,
        contingency="",
    )
    condition = RateCondition(rule)
    condition.window, condition.min_points, condition.min_span = 600.0, 10, 300.0
    rng = random.Random(3)
    points = []
    for i in range(5000):
        t, v = i * 7.0, 0.01 * i + rng.gauss(0, 0.2)
        condition.on_reading(Reading.good("c", at(t), v))
        points.append((t, v))
    window = [(t, v) for t, v in points if t >= points[-1][0] - 600.0]
    n = len(window)
    mt = sum(t for t, _ in window) / n
    mv = sum(v for _, v in window) / n
    direct = sum((t - mt) * (v - mv) for t, v in window) / sum((t - mt) ** 2 for t, _ in window)
    slope = condition.slope()
    assert slope is not None and abs(slope - direct * 60) < 1e-9


async def test_the_value_and_the_message_show_the_same_three_digits(
    engine_factory: Factory,
) -> None:
    """The console prints the alarm's value, the page its message: one number, not 5.6294
    beside 5.63."""
    h = await engine_factory(**rate_rule(on_delay=0))
    for i in range(61):  # every 10 s for 10 minutes, warming 5.6294 C/min exactly
        await h.push("box.t", -80.0 + i * 10 * 5.6294 / 60, i * 10)
    view = h.engine.get(KEY)
    assert view.active and view.value == 5.63
    assert "rising at 5.63 C/min" in view.detail
