"""Controlled-rate freezer: chamber or sample off the programmed profile."""

from __future__ import annotations

from typing import Any

from alarms.model import AlarmState
from tests.support.alarm_engine import Factory, at

S = AlarmState


def crf(rules: dict[str, Any] | None = None, extra: list[dict[str, Any]] = ()) -> dict[str, Any]:  # type: ignore[assignment]
    channels = [
        {"id": cid, "quantity": "temperature", "unit": "C", "source": {"device": "dev"}}
        for cid in ("chamber", "sample", "program")
    ]
    return {
        "alarms": {"equipment": {"crf": {"rules": rules or {}}}},
        "equipment": [
            {"id": "crf", "kind": "controlled_rate_freezer", "channels": [*channels, *extra]}
        ],
    }


async def test_following_the_program_channel(engine_factory: Factory) -> None:
    h = await engine_factory(**crf())  # template: chamber +/-5 C for 1 min
    key = "crf.chamber/chamber_deviation"
    program = 4.0
    for i in range(30):  # cooling at -1 C/min, every 10 s, chamber lagging 2 C
        t = i * 10
        await h.push("crf.program", program, t)
        await h.push("crf.chamber", program + 2.0, t)
        program -= 1.0 / 6
    assert h.state(key) is S.NORMAL
    for i in range(30, 60):  # the chamber stops cooling (LN2 supply failed)
        t = i * 10
        await h.push("crf.program", program, t)
        await h.push("crf.chamber", 2.0, t)
        program -= 1.0 / 6
    view = h.view(key)
    assert view.state is S.UNACK and "off the program" in view.message
    assert view.limit is not None and view.limit < -3.0 and view.value == 2.0


async def test_no_program_reading_means_no_verdict(engine_factory: Factory) -> None:
    h = await engine_factory(**crf())
    key = "crf.chamber/chamber_deviation"
    await h.push("crf.program", -20.0, 0)
    for t in range(200, 600, 10):  # the program reading is older than 2 minutes
        await h.push("crf.chamber", 20.0, t)
    assert h.state(key) is S.NORMAL


async def test_a_profile_in_the_configuration_started_by_the_run_state(
    engine_factory: Factory,
) -> None:
    run = {"id": "running", "quantity": "other", "unit": "", "source": {"device": "dev"}}
    profile = {
        "condition": "deviation",
        "channel": "sample",
        "profile": {"start": "running", "points": [[0, 4.0], ["10m", -6.0], ["60m", -56.0]]},
        "tolerance": 3.0,
        "on_delay": "30s",
    }
    h = await engine_factory(
        **crf({"sample_deviation": {"enabled": False}, "program_check": profile}, [run])
    )
    key = "crf.sample/program_check"
    await h.push("crf.sample", 20.0, 0)  # no run yet: no set point, no alarm
    await h.push("crf.running", 1.0, 100)
    for t in range(100, 700, 10):  # follows 4 C -> -6 C over 10 minutes
        await h.push("crf.sample", 4.0 - (t - 100) / 60, t)
    assert h.state(key) is S.NORMAL
    for t in range(700, 1000, 10):  # stuck at -6 C while the profile cools on at 1 C/min
        await h.push("crf.sample", -6.0, t)
        if t < 900:
            assert h.state(key) is S.NORMAL
    assert h.view(key).raised_at == at(920)  # more than 3 C off from t=890, for 30 s
    assert h.state(key) is S.UNACK
    await h.push("crf.running", 0.0, 1010)  # run over: nothing left to deviate from
    assert h.state(key) is S.RTN_UNACK
