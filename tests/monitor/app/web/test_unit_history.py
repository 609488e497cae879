"""A unit over time from the stored configuration versions (monitor/app/web/unit_history.py):
the version in force at a chart's start, limits as steps at each change, a limit a version
removed as None, and a unit's channels and sensors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from monitor.app.web.unit_history import RuleBook, in_force, limit_lines, unit_of
from monitor.store.base import ConfigVersion
from tests.support.equipment_data import CHANNEL, UNIT, WARM, effective

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def version(n: int, at: datetime, data: dict[str, Any]) -> ConfigVersion:
    return ConfigVersion(n, at, f"{n:064x}", [], data, "alice")


def test_the_version_in_force_at_the_start_and_those_loaded_during() -> None:
    versions = [version(i, T0 + timedelta(hours=i), {}) for i in range(1, 5)]
    chosen = in_force(versions, T0 + timedelta(hours=2, minutes=30), T0 + timedelta(hours=4))
    assert [v.id for v in chosen] == [2, 3]
    assert in_force(versions, T0, T0 + timedelta(minutes=30)) == []


def test_limits_step_at_each_change_and_a_removed_limit_is_none() -> None:
    removed = effective(-68.0)
    removed["alarms"]["equipment"][UNIT]["rules"]["warm"]["high_high"] = None
    versions = [
        version(1, T0 - timedelta(days=1), effective(-68.0)),
        version(2, T0 + timedelta(hours=1), effective(-65.0)),
        version(3, T0 + timedelta(hours=2), removed),
    ]
    unit = unit_of(versions[0].effective, UNIT)
    assert unit is not None
    end = T0 + timedelta(hours=3)
    lines = {(x.rule, x.level): x for x in limit_lines(RuleBook(), versions, unit, T0, end)}
    high, high_high = lines[(WARM, "high")], lines[(WARM, "high_high")]
    assert high.channel == CHANNEL and high.priority == "high"
    assert high.steps == [(T0, -68.0), (T0 + timedelta(hours=1), -65.0),
                          (T0 + timedelta(hours=2), -68.0), (end, -68.0)]  # fmt: skip
    # a null in a stored version is taken as unset: the template's high-high comes back
    assert [v for _, v in high_high.steps] == [-60.0, -60.0]


def test_a_unit_with_its_channels_sensors_and_polling_interval() -> None:
    unit = unit_of(effective(-68.0, serial="S-1"), UNIT)
    assert unit is not None and unit.location == "Cell processing, room 101"
    cabinet = unit.channels[0]
    assert (cabinet.id, cabinet.unit, cabinet.interval) == (CHANNEL, "C", 10.0)
    assert cabinet.sensor["serial"] == "S-1"
    assert unit_of(effective(-68.0), "nothing-here") is None
