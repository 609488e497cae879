"""Limit alarms as timelines: on-delay, off-delay and deadband edges, bad quality, severity."""

from __future__ import annotations

from typing import Any

from alarms.model import AlarmState, Level, Priority
from monitor.core.model import Quality
from tests.support.alarm_engine import Factory, at

S = AlarmState
KEY = "box.t/lim"


def limit_rule(**rule: Any) -> dict[str, Any]:
    """One limit rule on one temperature channel, nothing else."""
    return {
        "alarms": {
            "equipment": {"box": {"rules": {"lim": {"condition": "limit", "channel": "t", **rule}}}}
        },
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


async def test_on_delay_completes_on_the_reading_at_its_end(engine_factory: Factory) -> None:
    h = await engine_factory(**limit_rule(high=-65, on_delay="5m"))
    await h.push("box.t", -64.0, 0)
    for t in range(10, 300, 10):
        await h.push("box.t", -64.0, t)
    assert h.state(KEY) is S.NORMAL  # 290 s past the limit: not yet
    await h.push("box.t", -64.0, 300)
    view = h.view(KEY)
    assert view.state is S.UNACK and view.level is Level.HIGH
    assert view.raised_at == at(300) and view.since == at(0)
    assert view.code is not None and view.code.startswith("A")
    assert h.kinds(KEY) == ["raised"]


async def test_a_value_back_inside_restarts_the_on_delay(engine_factory: Factory) -> None:
    h = await engine_factory(**limit_rule(high=-65, on_delay="5m"))
    await h.push("box.t", -64.0, 0)
    await h.push("box.t", -66.0, 100)  # inside: the delay starts over
    await h.push("box.t", -64.0, 310)
    assert h.state(KEY) is S.NORMAL
    await h.push("box.t", -64.0, 609)
    assert h.state(KEY) is S.NORMAL
    await h.push("box.t", -64.0, 610)
    assert h.state(KEY) is S.UNACK


async def test_exactly_at_the_limit_is_not_past_it(engine_factory: Factory) -> None:
    h = await engine_factory(**limit_rule(high=-65))
    await h.push("box.t", -65.0, 0)
    assert h.state(KEY) is S.NORMAL
    await h.push("box.t", -64.99, 1)
    assert h.state(KEY) is S.UNACK


async def test_bad_quality_never_starts_restarts_or_completes_an_on_delay(
    engine_factory: Factory,
) -> None:
    h = await engine_factory(**limit_rule(high=-65, on_delay="5m"))
    await h.push("box.t", None, 0, Quality.SENSOR_FAULT)  # starts nothing
    await h.push("box.t", -64.0, 10)  # the delay starts here
    await h.push("box.t", None, 200, Quality.COMM_ERROR)  # does not cancel it
    await h.push("box.t", None, 305, Quality.OUT_OF_RANGE)  # does not complete it
    assert h.state(KEY) is S.NORMAL
    await h.push("box.t", -64.0, 310)
    view = h.view(KEY)
    assert view.state is S.UNACK and view.since == at(10) and view.raised_at == at(310)


async def test_bad_quality_never_clears_an_active_limit_alarm(engine_factory: Factory) -> None:
    h = await engine_factory(**limit_rule(high=-65))
    await h.push("box.t", -60.0, 0)
    for t in range(10, 3600, 60):
        await h.push("box.t", None, t, Quality.COMM_ERROR)
        await h.push("box.t", None, t + 1, Quality.SENSOR_FAULT)
    assert h.view(KEY).active and h.state(KEY) is S.UNACK
    assert h.kinds(KEY) == ["raised"]


async def test_deadband_edges(engine_factory: Factory) -> None:
    h = await engine_factory(**limit_rule(high=-65, deadband=1.0))
    await h.push("box.t", -64.0, 0)
    assert h.state(KEY) is S.UNACK
    await h.push("box.t", -65.5, 10)  # inside by 0.5: held by the deadband
    await h.push("box.t", -66.0, 20)  # inside by exactly the deadband: still held
    assert h.view(KEY).active
    await h.push("box.t", -66.01, 30)  # inside by more than the deadband: clears
    view = h.view(KEY)
    assert not view.active and view.state is S.RTN_UNACK
    assert h.kinds(KEY) == ["raised", "returned-to-normal"]


async def test_off_delay_keeps_the_alarm_through_brief_returns(engine_factory: Factory) -> None:
    h = await engine_factory(**limit_rule(high=-65, off_delay="1m"))
    await h.push("box.t", -64.0, 0)
    await h.push("box.t", -70.0, 1000)  # back inside: the off-delay starts
    await h.push("box.t", -64.0, 1030)  # out again: it starts over
    await h.push("box.t", -70.0, 1040)
    await h.push("box.t", -70.0, 1099)
    assert h.view(KEY).active
    await h.push("box.t", -70.0, 1100)
    assert not h.view(KEY).active
    assert h.kinds(KEY) == ["raised", "returned-to-normal"]


async def test_high_high_raises_the_severity_of_the_same_alarm(engine_factory: Factory) -> None:
    h = await engine_factory(
        **limit_rule(high=-65, high_high={"at": -60, "priority": "critical"}, deadband=0.5)
    )
    await h.push("box.t", -64.0, 0)
    first = h.view(KEY)
    assert first.level is Level.HIGH and first.priority is Priority.HIGH
    h.engine.acknowledge(first.code or "", "ana", "checking the door")
    assert h.state(KEY) is S.ACKED
    await h.push("box.t", -59.0, 60)
    second = h.view(KEY)
    assert second.code == first.code  # a re-alarm of the same alarm, not a new one
    assert second.state is S.UNACK and second.level is Level.HIGH_HIGH
    assert second.priority is Priority.CRITICAL
    await h.push("box.t", -61.0, 120)  # below high-high by more than the deadband
    third = h.view(KEY)
    assert third.level is Level.HIGH and third.state is S.UNACK  # lowering is not an ack
    await h.to(121)
    assert h.kinds(KEY) == ["raised", "acknowledged", "severity-raised"]
    actions = [r.action for r in h.engine.history(first.code or "")]
    assert actions == ["raised", "acknowledged", "severity_raised", "severity_lowered"]


async def test_each_level_has_its_own_on_delay(engine_factory: Factory) -> None:
    h = await engine_factory(**limit_rule(high=-65, high_high=-60, on_delay="1m"))
    await h.push("box.t", -64.0, 0)
    await h.push("box.t", -59.0, 30)  # past high-high from here
    await h.push("box.t", -59.0, 60)  # high has waited its minute, high-high has not
    assert h.view(KEY).level is Level.HIGH
    await h.push("box.t", -59.0, 90)
    assert h.view(KEY).level is Level.HIGH_HIGH
    await h.to(91)
    assert h.kinds(KEY) == ["raised", "severity-raised"]


async def test_low_side_and_a_swing_to_the_other_side(engine_factory: Factory) -> None:
    h = await engine_factory(**limit_rule(low_low=35, low=36, high=38, high_high=39))
    await h.push("box.t", 37.0, 0)
    await h.push("box.t", 35.5, 10)
    assert h.view(KEY).level is Level.LOW
    await h.push("box.t", 34.0, 20)
    assert h.view(KEY).level is Level.LOW_LOW
    await h.push("box.t", 38.5, 30)  # straight to the other side: announced again
    assert h.view(KEY).level is Level.HIGH
    await h.push("box.t", 37.0, 40)
    assert h.state(KEY) is S.RTN_UNACK
    assert h.kinds(KEY) == ["raised", "severity-raised", "severity-raised", "returned-to-normal"]


async def test_text_and_nan_values_are_ignored(engine_factory: Factory) -> None:
    h = await engine_factory(**limit_rule(high=-65))
    await h.push("box.t", "warm", 0)
    await h.push("box.t", float("nan"), 1)
    assert h.state(KEY) is S.NORMAL and h.engine.faults == 0
