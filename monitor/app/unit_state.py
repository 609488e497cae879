"""Each unit's state as people are shown it: the dashboard's tiles and the site overview.

One function decides what a unit's state is (:func:`build_tiles`), whatever the values come
from (the live values in memory for the dashboard, the store for ``coldwatch status`` and the
overview page), so that every screen says the same thing of the same data.

A value is never shown as if current when it is not: a bad-quality reading has no value (its
quality is shown instead), and a reading older than the channel's ``stale_after`` (default:
three poll intervals of its device) is STALE, with its age.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from alarms.model import AlarmState, AlarmView, Priority
from monitor.config.sections import Channel, Equipment, Location, SiteConfig
from monitor.core.display import format_value
from monitor.core.model import Quality
from monitor.runtime.live import ChannelNow, Trend

#: A reading older than this many of its device's intervals is stale (without stale_after).
STALE_INTERVALS = 3.0

_SILENT = frozenset({AlarmState.SHELVED, AlarmState.OUT_OF_SERVICE, AlarmState.SUPPRESSED})


class UnitState(enum.StrEnum):
    """Worst first: a unit is in the first of these that applies."""

    ALARM = "alarm"
    FAULT = "fault"
    """A channel of bad quality, or a device of the unit down."""
    STALE = "stale"
    NO_DATA = "no data"
    NORMAL = "normal"


UNIT_STATES = tuple(UnitState)


@dataclass(frozen=True, slots=True)
class ChannelShown:
    id: str
    name: str
    unit: str
    value: str
    """The value with the channel's decimals; "" when there is none to show (bad, none)."""
    quality: str
    """``good``, ``stale`` (an old good value), a bad quality's name, or ``none``."""
    ts: datetime | None
    age_seconds: float | None
    trend: Trend

    @property
    def current(self) -> bool:
        return self.quality == "good"


@dataclass(frozen=True, slots=True)
class UnitAlarm:
    """The unit's worst alarm that still asks for attention."""

    code: str | None
    priority: Priority
    state: AlarmState
    needs_ack: bool
    message: str


@dataclass(frozen=True, slots=True)
class UnitTile:
    id: str
    name: str
    location: str
    state: UnitState
    channels: tuple[ChannelShown, ...]
    alarm: UnitAlarm | None
    active_alarms: int
    shelved: bool
    out_of_service: bool
    devices_down: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LocationTiles:
    id: str
    name: str
    units: tuple[UnitTile, ...]


def stale_after(config: SiteConfig, channel: Channel) -> float:
    if channel.stale_after is not None:
        return float(channel.stale_after)
    try:
        return STALE_INTERVALS * float(config.device(channel.source.device).interval)
    except KeyError:
        return STALE_INTERVALS * 10.0


@dataclass(frozen=True)
class SiteIndex:
    """What every tile needs of the configuration, worked out once per configuration (the
    dashboard builds every tile every second)."""

    stale: dict[str, float]
    units_of_device: dict[str, frozenset[str]]


_INDEXES: dict[int, tuple[SiteConfig, SiteIndex]] = {}


def index_of(config: SiteConfig) -> SiteIndex:
    found = _INDEXES.get(id(config))
    if found is not None and found[0] is config:
        return found[1]
    units: dict[str, set[str]] = {}
    stale = {}
    for cid, (eq, ch) in config.channels().items():
        units.setdefault(ch.source.device, set()).add(eq.id)
        stale[cid] = stale_after(config, ch)
    index = SiteIndex(stale, {d: frozenset(u) for d, u in units.items()})
    if len(_INDEXES) >= 8:  # a few configurations a run at most (tests make more)
        _INDEXES.clear()
    _INDEXES[id(config)] = (config, index)
    return index


def shown(
    stale: float, channel_id: str, channel: Channel, now_: ChannelNow, at: datetime
) -> ChannelShown:
    reading = now_.reading
    name = channel.name or channel.id
    if reading is None:
        return ChannelShown(channel_id, name, channel.unit, "", "none", None, None, Trend.UNKNOWN)
    age = max(0.0, (at - reading.ts).total_seconds())
    if reading.quality is not Quality.GOOD:
        quality = reading.quality.value
        value = ""
    else:
        quality = "stale" if age > stale else "good"
        value = format_value(reading.value, channel.decimals)
    trend = now_.trend if quality == "good" else Trend.UNKNOWN
    return ChannelShown(channel_id, name, channel.unit, value, quality, reading.ts, age, trend)


def alarms_by_unit(config: SiteConfig, alarms: Iterable[AlarmView]) -> dict[str, list[AlarmView]]:
    """Each unit's alarms: its own, and those of a device that serves it (comm loss)."""
    units_of_device = index_of(config).units_of_device
    out: dict[str, list[AlarmView]] = {}
    for view in alarms:
        if view.equipment is not None:
            out.setdefault(view.equipment, []).append(view)
        else:
            for unit in units_of_device.get(view.source, ()):
                out.setdefault(unit, []).append(view)
    return out


def worst(views: Iterable[AlarmView]) -> UnitAlarm | None:
    loud = [v for v in views if v.state not in _SILENT]
    if not loud:
        return None
    top = max(loud, key=lambda v: (v.priority.rank, v.needs_ack, v.active))
    return UnitAlarm(top.code, top.priority, top.state, top.needs_ack, top.message)


def tile(
    config: SiteConfig,
    location: str,
    eq: Equipment,
    values: Mapping[str, ChannelNow],
    alarms: list[AlarmView],
    devices_down: frozenset[str],
    at: datetime,
) -> UnitTile:
    stale = index_of(config).stale
    channels = []
    for ch in eq.channels:
        cid = f"{eq.id}.{ch.id}"
        now_ = values.get(cid) or _none(eq, ch)
        channels.append(shown(stale.get(cid, STALE_INTERVALS * 10.0), cid, ch, now_, at))
    down = tuple(sorted({ch.source.device for ch in eq.channels} & devices_down))
    alarm = worst(alarms)
    if alarm is not None:
        state = UnitState.ALARM
    elif down or any(c.quality not in ("good", "stale", "none") for c in channels):
        state = UnitState.FAULT
    elif any(c.quality == "stale" for c in channels):
        state = UnitState.STALE
    elif not channels or any(c.quality == "none" for c in channels):
        state = UnitState.NO_DATA
    else:
        state = UnitState.NORMAL
    return UnitTile(
        eq.id,
        eq.name or eq.id,
        location,
        state,
        tuple(channels),
        alarm,
        sum(1 for v in alarms if v.state not in _SILENT),
        any(v.state is AlarmState.SHELVED for v in alarms),
        any(v.state is AlarmState.OUT_OF_SERVICE for v in alarms),
        down,
    )


def _none(eq: Equipment, ch: Channel) -> ChannelNow:
    return ChannelNow(f"{eq.id}.{ch.id}", None, Trend.UNKNOWN)


def build_tiles(
    config: SiteConfig,
    values: Mapping[str, ChannelNow],
    alarms: Iterable[AlarmView],
    devices_down: Iterable[str],
    at: datetime,
    locations: Iterable[Location] | None = None,
) -> list[LocationTiles]:
    """Every unit's tile, grouped by location, in the configuration's order (of
    ``locations`` only, when given)."""
    by_unit = alarms_by_unit(config, alarms)
    down = frozenset(devices_down)
    return [
        LocationTiles(
            loc.id,
            loc.name or loc.id,
            tuple(
                tile(config, loc.name or loc.id, eq, values, by_unit.get(eq.id, []), down, at)
                for eq in loc.equipment
            ),
        )
        for loc in (config.locations if locations is None else locations)
    ]
