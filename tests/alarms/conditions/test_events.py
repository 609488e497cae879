"""The monitoring gap: a clean stop's downtime raises the alarm only past the threshold; an
unclean one always does (timelines on the engine's FakeClock, a real store)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from alarms.model import AlarmState
from alarms.rules import compile_rules
from monitor.app.config import ConfigError, load
from monitor.core.model import Event, EventKind
from tests.support.alarm_engine import Factory, Harness, config_data
from tests.support.fakes import write_config

S = AlarmState
GAP = "coldwatch/monitoring_gap"


async def gap(h: Harness, t: float, seconds: float, *, kind: str = EventKind.DOWNTIME) -> None:
    """coldwatch starts at ``t`` after ``seconds`` without running (as health records it)."""
    await h.to(t)
    data: dict[str, Any] = {"downtime_seconds": seconds, "unclean": kind != EventKind.DOWNTIME}
    h.engine.on_event(Event(h.clock.now(), kind, "coldwatch", f"stopped for {seconds} s", data))
    await h.clock.settle()


async def test_a_clean_stop_under_five_minutes_is_no_alarm(engine_factory: Factory) -> None:
    h = await engine_factory()
    await gap(h, 10, 3.0)
    await gap(h, 20, 300.0)  # the threshold itself is still under it
    assert h.state(GAP) is S.NORMAL and h.kinds(GAP) == []


async def test_a_clean_stop_over_the_threshold_raises_it(engine_factory: Factory) -> None:
    h = await engine_factory()
    await gap(h, 10, 300.5)
    view = h.view(GAP)
    assert view.state is S.RTN_UNACK and not view.active  # a pulse: waits for an ack
    assert h.kinds(GAP) == ["raised"]


async def test_an_unclean_stop_raises_it_however_short(engine_factory: Factory) -> None:
    h = await engine_factory()
    await gap(h, 10, 1.0, kind=EventKind.UNCLEAN_RESTART)
    assert h.state(GAP) is S.RTN_UNACK and h.kinds(GAP) == ["raised"]


async def test_the_threshold_is_configured_under_the_system_alarm(
    engine_factory: Factory,
) -> None:
    h = await engine_factory(alarms={"system": {"monitoring_gap": {"clean_gap_threshold": "2s"}}})
    await gap(h, 10, 1.9)
    assert h.state(GAP) is S.NORMAL
    await gap(h, 20, 3.0)
    assert h.state(GAP) is S.RTN_UNACK


async def test_a_downtime_event_it_cannot_read_raises_it(engine_factory: Factory) -> None:
    """No figure, or not flagged clean: fail loud."""
    h = await engine_factory()
    await h.to(10)
    h.engine.on_event(Event(h.clock.now(), EventKind.DOWNTIME, "coldwatch", "stopped", {}))
    await h.clock.settle()
    assert h.state(GAP) is S.RTN_UNACK


@pytest.mark.parametrize("seconds", [None, -30.0, True])
async def test_a_gap_not_measured_or_below_zero_is_never_short(
    engine_factory: Factory, seconds: float | bool | None
) -> None:
    """``downtime_seconds`` null (the gap could not be measured: rebooted while stopped with
    the clock not synchronised), below zero (a clock behind the stop), or not a number."""
    h = await engine_factory()
    await h.to(10)
    data = {"downtime_seconds": seconds, "unclean": False, "gap_measure": "unknown"}
    h.engine.on_event(Event(h.clock.now(), EventKind.DOWNTIME, "coldwatch", "stopped", data))
    await h.clock.settle()
    assert h.state(GAP) is S.RTN_UNACK and h.kinds(GAP) == ["raised"]


def test_the_rule_carries_the_threshold_and_only_it_may_set_one(tmp_path: Path) -> None:
    data = config_data(alarms={"system": {"monitoring_gap": {"clean_gap_threshold": "10m"}}})
    rules = {r.key: r for r in compile_rules(load(write_config(tmp_path, data)).config).rules}
    assert rules[GAP].clean_gap_threshold == 600.0
    assert rules["coldwatch/clock_step"].clean_gap_threshold is None
    wrong = config_data(alarms={"system": {"clock_step": {"clean_gap_threshold": "10m"}}})
    with pytest.raises(ConfigError) as err:  # with the file and line (checked in the str)
        load(write_config(tmp_path, wrong, name="wrong.yaml"))
    assert "wrong.yaml:" in str(err.value) and "system alarm 'clock_step'" in str(err.value)
    assert [f"{i.path}: {i.message}" for i in err.value.issues] == [
        "alarms.system.clock_step.clean_gap_threshold: "
        "clean_gap_threshold applies to monitoring_gap only"
    ]
