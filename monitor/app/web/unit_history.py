"""A unit of equipment as the stored configuration versions describe it, over time: its
channels and sensors, the limits of its rules in force at each moment, and its alarm periods.

The limits come from the configuration versions the store keeps (``config_versions``), each
compiled as the alarm engine compiles it, so a chart shows the limit that was in force when a
value was read, not today's. A version's effective JSON is a full dump (every field, ``null``
for unset ones); the ``null`` fields of its ``alarms:`` section are dropped before compiling,
as a dump cannot tell "unset" from "cleared", and unset keeps a template's value.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Protocol

from pydantic import ValidationError

from alarms.config import AlarmsConfig
from alarms.rules.compiler import compile_rules
from alarms.rules.model import Rule
from monitor.config.sections import SiteConfig
from monitor.store.base import AlarmRecord, ConfigVersion
from monitor.store.sqlite_rollup import RollupBucket

MAX_ALARM_RECORDS: Final = 2000  # per alarm key, newest first: bounds a chart's alarm query
_CACHE_SIZE: Final = 64


class HistoryReader(Protocol):
    """The store's reading side the equipment page needs
    (:class:`monitor.store.sqlite.SQLiteStore`: its reader connection)."""

    def readings(
        self,
        channel: str,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int | None = None,
    ) -> list[Any]: ...

    def rollup(
        self, channel: str, start: datetime, end: datetime, bucket_minutes: int = 1
    ) -> list[RollupBucket]: ...

    def config_versions(self) -> list[ConfigVersion]: ...

    def alarm_records(
        self,
        *,
        after_seq: int = 0,
        key: str | None = None,
        code: str | None = None,
        since: datetime | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[AlarmRecord]: ...


class _RulesSite(SiteConfig):
    """The parts of a stored configuration the rule compiler reads."""

    alarms: AlarmsConfig | None = None
    notifiers: dict[str, dict[str, Any]] = {}


@dataclass(frozen=True)
class UnitChannel:
    id: str
    """The stable id ``<equipment>.<channel>``."""
    name: str
    unit: str
    decimals: int | None
    interval: float
    """Its device's polling interval, seconds: a longer silence is drawn as a gap."""
    sensor: dict[str, Any]


@dataclass(frozen=True)
class Unit:
    id: str
    name: str
    kind: str
    location: str
    channels: tuple[UnitChannel, ...]


@dataclass(frozen=True)
class LimitLine:
    """One limit of one rule, as steps ``(time, value or None)`` from the chart's start."""

    rule: str
    level: str
    priority: str
    channel: str
    steps: list[tuple[datetime, float | None]] = field(default_factory=list)


@dataclass(frozen=True)
class AlarmPeriod:
    key: str
    code: str | None
    channel: str
    priority: str
    start: datetime
    end: datetime | None
    """None: still active."""
    condition: str
    acked_by: str | None
    acked_at: datetime | None
    ack_comment: str | None


def unit_of(effective: dict[str, Any], equipment_id: str) -> Unit | None:
    """The unit ``equipment_id`` of one stored configuration, or None."""
    intervals = {
        d.get("id"): float(d.get("interval") or 10.0) for d in effective.get("devices", ())
    }
    for location in effective.get("locations", ()):
        for eq in location.get("equipment", ()):
            if eq.get("id") != equipment_id:
                continue
            channels = tuple(
                UnitChannel(
                    f"{equipment_id}.{ch['id']}",
                    ch.get("name") or ch["id"],
                    ch.get("unit", ""),
                    ch.get("decimals"),
                    intervals.get((ch.get("source") or {}).get("device"), 10.0),
                    ch.get("sensor") or {},
                )
                for ch in eq.get("channels", ())
            )
            return Unit(
                equipment_id,
                eq.get("name") or equipment_id,
                str(eq.get("kind", "")),
                location.get("name") or location.get("id", ""),
                channels,
            )
    return None


class RuleBook:
    """The compiled rules of each configuration version, by its SHA-256 (a small cache:
    compiling takes milliseconds, a chart asks for every version in its range)."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[Rule, ...]] = {}
        self._lock = threading.Lock()

    def rules(self, version: ConfigVersion) -> tuple[Rule, ...]:
        with self._lock:
            found = self._cache.get(version.sha256)
        if found is not None:
            return found
        rules = _compile(version.effective)
        with self._lock:
            if len(self._cache) >= _CACHE_SIZE:
                self._cache.pop(next(iter(self._cache)))
            self._cache[version.sha256] = rules
        return rules


def _compile(effective: dict[str, Any]) -> tuple[Rule, ...]:
    keep: dict[str, Any] = {
        k: effective[k] for k in ("site", "devices", "locations") if k in effective
    }
    if effective.get("alarms") is not None:
        keep["alarms"] = _without_nulls(effective["alarms"])
    try:
        return compile_rules(_RulesSite.model_validate(keep)).rules
    except ValidationError:  # a version this code cannot read: no limits drawn for it
        return ()


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def in_force(
    versions: Sequence[ConfigVersion], start: datetime, end: datetime
) -> list[ConfigVersion]:
    """The version in force at ``start`` (if any) and those loaded before ``end``, in order."""
    ordered = sorted(versions, key=lambda v: (v.loaded_at, v.id))
    before = [v for v in ordered if v.loaded_at <= start]
    during = [v for v in ordered if start < v.loaded_at < end]
    return before[-1:] + during


def unit_rules(book: RuleBook, version: ConfigVersion, equipment_id: str) -> list[Rule]:
    return [r for r in book.rules(version) if r.equipment == equipment_id]


def limit_lines(
    book: RuleBook, versions: Sequence[ConfigVersion], unit: Unit, start: datetime, end: datetime
) -> list[LimitLine]:
    """Every limit of the unit's rules, as steps that change where a version changed it."""
    lines: dict[tuple[str, str], LimitLine] = {}
    channel_ids = {c.id for c in unit.channels}
    seen: list[tuple[datetime, dict[tuple[str, str], float]]] = []
    for version in versions:
        at = max(version.loaded_at, start)
        values: dict[tuple[str, str], float] = {}
        for rule in unit_rules(book, version, unit.id):
            channel = next((c for c in rule.channels if c in channel_ids), None)
            if channel is None:
                continue
            for level, (limit, priority) in rule.limits.items():
                key = (rule.key, level.value)
                values[key] = limit
                if key not in lines:
                    lines[key] = LimitLine(rule.key, level.value, priority.value, channel)
        seen.append((at, values))
    for key, line in lines.items():
        for at, values in seen:
            value = values.get(key)
            if not line.steps or line.steps[-1][1] != value:
                line.steps.append((at, value))
        line.steps.append((end, line.steps[-1][1]))
    return list(lines.values())


def alarm_periods(
    reader: HistoryReader, keys: Sequence[str], start: datetime, end: datetime
) -> list[AlarmPeriod]:
    """Each key's periods of being active (raised .. cleared) that overlap ``start..end``,
    from the alarm history (the newest :data:`MAX_ALARM_RECORDS` records of each key)."""
    periods: list[AlarmPeriod] = []
    for key in dict.fromkeys(keys):
        records = reader.alarm_records(key=key, newest_first=True, limit=MAX_ALARM_RECORDS)
        open_view: dict[str, Any] | None = None
        opened: datetime | None = None
        last_view: dict[str, Any] = {}
        for record in reversed(records):
            view = record.data.get("alarm") or {}
            active = bool(view.get("active"))
            if active and opened is None:
                opened, open_view = record.at, view
            elif not active and opened is not None and open_view is not None:
                periods.append(_period(key, open_view, last_view, opened, record.at))
                opened = open_view = None
            if view:
                last_view = view
        if opened is not None and open_view is not None:
            periods.append(_period(key, open_view, last_view, opened, None))
    overlapping = [p for p in periods if p.start < end and (p.end is None or p.end > start)]
    return sorted(overlapping, key=lambda p: p.start)


def _period(
    key: str,
    first: dict[str, Any],
    last: dict[str, Any],
    start: datetime,
    end: datetime | None,
) -> AlarmPeriod:
    acked_at = last.get("acked_at")
    return AlarmPeriod(
        key,
        first.get("code"),
        str(first.get("source") or ""),
        str(last.get("priority") or first.get("priority") or ""),
        start,
        end,
        str(first.get("condition_text") or first.get("message") or ""),
        last.get("acked_by"),
        datetime.fromisoformat(acked_at) if isinstance(acked_at, str) else None,
        last.get("ack_comment"),
    )
