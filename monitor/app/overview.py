"""The site at a glance, from the store: units by state, active alarms by priority, devices
down, and each unit's data completeness over the last 24 hours.

``coldwatch status`` and the console's overview page both call :func:`site_overview`, so they
say the same thing (a test holds them to it). It reads the store, not the daemon's memory:
the CLI must tell the truth while the daemon is stopped too.

Completeness is the good readings stored over the readings expected (one per poll interval
of the channel's device, over the window): bad-quality readings and gaps count as missing. The
window starts 24 hours ago, or when the store recorded its first configuration if that is
later (a site monitored for an hour is not 4 % complete).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from alarms.model import AlarmState, AlarmView, Priority
from monitor.app.unit_state import UNIT_STATES, LocationTiles, build_tiles
from monitor.config.sections import SiteConfig
from monitor.core.model import Event, EventKind, Quality, Reading
from monitor.runtime.live import ChannelNow, Trend
from monitor.store.base import AlarmRecord, ConfigVersion

COMPLETENESS_WINDOW = timedelta(hours=24)


class OverviewStore(Protocol):
    """What the overview reads (:class:`monitor.store.sqlite.SQLiteStore`)."""

    def latest(self, channels: Sequence[str]) -> dict[str, Reading]: ...

    def events(
        self,
        start: datetime | None = None,
        end: datetime | None = None,
        kinds: Sequence[str] | None = None,
        source: str | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[Event]: ...

    def alarm_latest(self) -> dict[str, AlarmRecord]: ...

    def config_versions(self) -> list[ConfigVersion]: ...

    def good_counts(
        self, channels: Sequence[str], start: datetime, end: datetime
    ) -> dict[str, int]: ...


@dataclass(frozen=True, slots=True)
class Completeness:
    unit: str
    name: str
    expected: int
    stored: int

    @property
    def percent(self) -> float:
        if self.expected <= 0:
            return 100.0
        return min(100.0, 100.0 * self.stored / self.expected)


@dataclass(frozen=True)
class SiteOverview:
    at: datetime
    units_by_state: dict[str, int]
    alarms_by_priority: dict[str, int]
    devices_down: tuple[str, ...]
    completeness: tuple[Completeness, ...]
    locations: tuple[LocationTiles, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "units_by_state": self.units_by_state,
            "alarms_by_priority": self.alarms_by_priority,
            "devices_down": list(self.devices_down),
            "completeness_24h": [
                {
                    "unit": c.unit,
                    "expected": c.expected,
                    "stored_good": c.stored,
                    "percent": round(c.percent, 1),
                }
                for c in self.completeness
            ],
        }


def active_alarms(store: OverviewStore) -> list[AlarmView]:
    """Every alarm not in NORMAL, as its latest record left it."""
    out = []
    for record in store.alarm_latest().values():
        if record.state == AlarmState.NORMAL.value:
            continue
        data = record.data.get("alarm")
        if not isinstance(data, dict):
            continue
        try:
            out.append(AlarmView.from_json(data))
        except (KeyError, ValueError, TypeError):
            continue  # a damaged record: verify says so; the overview does not crash on it
    return out


def devices_down(config: SiteConfig, store: OverviewStore, latest: dict[str, Reading]) -> list[str]:
    """As ``coldwatch status`` decides: the device's last up/down event says down, or every
    channel's latest reading is a communication error."""
    channels_of: dict[str, list[str]] = {}
    for cid, (_, ch) in config.channels().items():
        channels_of.setdefault(ch.source.device, []).append(cid)
    down = []
    for dev in config.devices:
        if not dev.enabled:
            continue
        last = store.events(
            kinds=[EventKind.DEVICE_UP, EventKind.DEVICE_DOWN],
            source=dev.id,
            limit=1,
            newest_first=True,
        )
        readings = [latest[c] for c in channels_of.get(dev.id, []) if c in latest]
        if (last and last[0].kind == EventKind.DEVICE_DOWN) or (
            readings and all(r.quality is Quality.COMM_ERROR for r in readings)
        ):
            down.append(dev.id)
    return down


def completeness(config: SiteConfig, store: OverviewStore, at: datetime) -> list[Completeness]:
    channels = config.channels()
    since = at - COMPLETENESS_WINDOW
    first = min((v.loaded_at for v in store.config_versions()), default=None)
    if first is not None and first > since:
        since = min(first, at)
    counts = store.good_counts(list(channels), since, at)
    enabled = {d.id: d for d in config.devices if d.enabled}
    window = (at - since).total_seconds()
    out = []
    for loc in config.locations:
        for eq in loc.equipment:
            expected = stored = 0
            for ch in eq.channels:
                device = enabled.get(ch.source.device)
                if device is None or device.interval <= 0:
                    continue
                expected += int(window // device.interval)
                stored += counts.get(f"{eq.id}.{ch.id}", 0)
            out.append(Completeness(eq.id, eq.name or eq.id, expected, stored))
    return out


def site_overview(config: SiteConfig, store: OverviewStore, at: datetime) -> SiteOverview:
    channels = list(config.channels())
    latest = store.latest(channels)
    values = {c: ChannelNow(c, latest.get(c), Trend.UNKNOWN) for c in channels}
    alarms = active_alarms(store)
    down = devices_down(config, store, latest)
    locations = build_tiles(config, values, alarms, down, at)
    by_state = dict.fromkeys((s.value for s in UNIT_STATES), 0)
    for loc in locations:
        for unit in loc.units:
            by_state[unit.state.value] += 1
    by_priority = dict.fromkeys((p.value for p in Priority), 0)
    for view in alarms:
        if view.state not in (
            AlarmState.SHELVED,
            AlarmState.OUT_OF_SERVICE,
            AlarmState.SUPPRESSED,
        ):
            by_priority[view.priority.value] += 1
    return SiteOverview(
        at,
        by_state,
        by_priority,
        tuple(down),
        tuple(completeness(config, store, at)),
        tuple(locations),
    )


def render_overview(overview: SiteOverview) -> str:
    """The overview as ``coldwatch status`` prints it after the devices."""
    states = ", ".join(f"{n} {s}" for s, n in overview.units_by_state.items())
    alarms = ", ".join(f"{n} {p}" for p, n in overview.alarms_by_priority.items())
    lines = [
        f"units: {states}",
        f"active alarms: {alarms}",
        f"devices down: {', '.join(overview.devices_down) or 'none'}",
        "data completeness, last 24 h (good readings stored / expected):",
    ]
    for c in overview.completeness:
        lines.append(f"    {c.unit}  {c.percent:5.1f} %  ({c.stored} / {c.expected})")
    return "\n".join(lines)
