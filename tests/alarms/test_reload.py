"""A reload while running: new rules receive readings at once, the new settings bound the next
command, removed rules retire on the record, and an unchanged configuration records nothing;
the engine's commands, given as the acknowledgement paths' ``AlarmCommands``, act on the same
alarms as the engine."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from alarms.ack.commands import AlarmCommands
from alarms.model import AlarmCommandError, AlarmState
from monitor.app.config import Config
from tests.support.alarm_engine import KEY, Factory, Harness, cfg, make_config

S = AlarmState
LOW_KEY = "box.t/low"


def with_low_rule(**alarms: Any) -> dict[str, Any]:
    """``cfg()`` plus a low limit on the same channel, and ``alarms`` settings."""
    data = cfg()
    rules = data["alarms"]["equipment"]["box"]["rules"]
    rules["low"] = {"condition": "limit", "channel": "t", "low": -10}
    data["alarms"].update(alarms)
    return data


def reloaded(h: Harness, name: str, data: dict[str, Any]) -> Config:
    folder = Path(h.store.path).parent / name
    folder.mkdir()
    return make_config(folder, **data)


async def test_a_rule_added_by_a_reload_reads_the_next_reading(engine_factory: Factory) -> None:
    h = await engine_factory(**cfg())
    await h.push("box.t", 0.0, 0)
    assert LOW_KEY not in h.engine.keys
    h.engine.reload(reloaded(h, "added", with_low_rule()), "qa-lead")
    assert LOW_KEY in h.engine.keys
    await h.push("box.t", -20.0, 10)
    assert h.state(LOW_KEY) is S.UNACK
    assert h.kinds(LOW_KEY) == ["raised"]
    config_row = h.store.alarm_records(key="coldwatch/config")[-1]
    assert config_row.data["added"] == [LOW_KEY]


async def test_a_reload_brings_its_settings_to_the_next_command(engine_factory: Factory) -> None:
    h = await engine_factory(**cfg())
    await h.push("box.t", 11.0, 0)
    h.engine.reload(reloaded(h, "short", with_low_rule(max_shelve="1h")), "qa-lead")
    with pytest.raises(AlarmCommandError, match="at most 1 h"):
        h.engine.shelve(KEY, "ana", "probe swap", timedelta(hours=2))
    (view,) = h.engine.shelve(KEY, "ana", "probe swap", timedelta(minutes=30))
    assert view.state is S.SHELVED


async def test_a_rule_removed_by_a_reload_is_retired(engine_factory: Factory) -> None:
    h = await engine_factory(**with_low_rule())
    await h.push("box.t", -20.0, 0)
    code = h.view(LOW_KEY).code
    h.announced.clear()
    h.engine.reload(reloaded(h, "removed", cfg()), "qa-lead", via="cli")
    await h.to(1)
    assert KEY in h.engine.keys and LOW_KEY not in h.engine.keys
    assert h.kinds() == ["retired"]
    retired = h.announced[0]
    assert retired.alarm is not None and retired.alarm.code == code
    assert (retired.person, retired.via) == ("qa-lead", "cli")
    with pytest.raises(AlarmCommandError, match="not open"):
        h.engine.acknowledge(code or "", "ana", "seen")


async def test_reloading_the_same_configuration_records_nothing(engine_factory: Factory) -> None:
    h = await engine_factory(**cfg())
    await h.push("box.t", 11.0, 0)
    rows = len(h.store.alarm_records())
    h.engine.reload(reloaded(h, "same", cfg()), "qa-lead")
    await h.to(1)
    assert len(h.store.alarm_records()) == rows
    assert h.state(KEY) is S.UNACK


async def test_the_engine_commands_are_alarm_commands(engine_factory: Factory) -> None:
    h = await engine_factory(**cfg())
    await h.push("box.t", 11.0, 0)
    commands: AlarmCommands = h.engine._commands
    code = h.view(KEY).code or ""
    assert [v.key for v in commands.active() if v.needs_ack] == [KEY]
    view = commands.acknowledge(code, "ana", "on my way", via="sms")
    assert view.state is S.ACKED and h.state(KEY) is S.ACKED
    assert commands.get(code) == h.engine.get(code)
    assert [r.action for r in commands.history(code)] == ["raised", "acknowledged"]
    assert h.kinds(KEY) == ["raised", "acknowledged"]
