"""``coldwatch status``: each device's communication state and latest readings, from the store.

Read from the store rather than asked of the daemon, so it also tells the truth when the
daemon is not running (then the last poll is old, and it says so).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from monitor.app.config import LoadedConfig
from monitor.core.display import format_table, format_value
from monitor.core.model import EventKind, Quality, Reading
from monitor.store.base import Store


@dataclass
class DeviceStatus:
    device: str
    driver: str
    comm: str  # "up", "down", "unknown"
    comm_since: datetime | None
    comm_reason: str | None
    last_poll: datetime | None
    overdue: bool
    channels: dict[str, Reading] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    decimals: dict[str, int] = field(default_factory=dict)  # channels with ``decimals:`` set

    def as_dict(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "driver": self.driver,
            "comm": self.comm,
            "comm_since": self.comm_since.isoformat() if self.comm_since else None,
            "comm_reason": self.comm_reason,
            "last_poll": self.last_poll.isoformat() if self.last_poll else None,
            "overdue": self.overdue,
            "channels": {
                ch: {
                    "ts": r.ts.isoformat(),
                    "value": r.value,
                    "quality": r.quality.value,
                    "detail": r.detail,
                }
                for ch, r in self.channels.items()
            },
        }


def device_status(loaded: LoadedConfig, store: Store, now: datetime) -> list[DeviceStatus]:
    cfg = loaded.config
    by_device: dict[str, list[str]] = {}
    units: dict[str, str] = {}
    decimals: dict[str, int] = {}
    for channel_id, (_, channel) in cfg.channels().items():
        by_device.setdefault(channel.source.device, []).append(channel_id)
        units[channel_id] = channel.unit
        if channel.decimals is not None:
            decimals[channel_id] = channel.decimals
    latest = store.latest([c for chans in by_device.values() for c in chans])
    out = []
    for dev in cfg.devices:
        channels = {c: latest[c] for c in by_device.get(dev.id, []) if c in latest}
        last_poll = max((r.ts for r in channels.values()), default=None)
        comm_events = store.events(
            kinds=[EventKind.DEVICE_UP, EventKind.DEVICE_DOWN],
            source=dev.id,
            limit=1,
            newest_first=True,
        )
        comm, since, reason = "unknown", None, None
        if comm_events:
            ev = comm_events[0]
            comm = "up" if ev.kind == EventKind.DEVICE_UP else "down"
            since, reason = ev.ts, ev.data.get("reason")
        if channels and all(r.quality is Quality.COMM_ERROR for r in channels.values()):
            comm = "down"
        overdue = last_poll is None or now - last_poll > timedelta(seconds=3 * dev.interval)
        out.append(
            DeviceStatus(
                dev.id,
                dev.driver,
                comm,
                since,
                reason,
                last_poll,
                overdue,
                channels,
                {c: units[c] for c in channels},
                {c: decimals[c] for c in channels if c in decimals},
            )
        )
    return out


#: Units not worth a column: the value says it all.
_UNITLESS = frozenset({"bool", "text", "code", ""})


def render_status(statuses: list[DeviceStatus]) -> str:
    """Each device's line, then its channels: one table across all devices, values aligned
    on the decimal point and shown with the channel's ``decimals:`` if it has any."""
    rows: list[tuple[str, str, str, str]] = []
    for s in statuses:
        for channel, r in sorted(s.channels.items()):
            value = "-" if r.value is None else format_value(r.value, s.decimals.get(channel))
            unit = s.units.get(channel, "") if isinstance(r.value, int | float) else ""
            detail = f"  ({r.detail})" if r.detail else ""
            rows.append(
                (channel, value, "" if unit in _UNITLESS else unit, f"{r.quality.value}{detail}")
            )
    table = iter(format_table(rows, numeric=[1], header=False))
    lines = []
    for s in statuses:
        poll = s.last_poll.isoformat(timespec="seconds") if s.last_poll else "never"
        note = "  (no recent poll: is the daemon running?)" if s.overdue else ""
        lines.append(f"{s.device} [{s.driver}] comm={s.comm} last_poll={poll}{note}")
        if s.comm == "down" and s.comm_reason:
            lines.append(f"    reason: {s.comm_reason}")
        lines.extend(f"    {next(table)}" for _ in s.channels)
    return "\n".join(lines)
