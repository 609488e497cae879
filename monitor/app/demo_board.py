"""The demo's live table: every channel's newest reading and its alarm, from the running daemon.

The board is one more inline consumer of the daemon's pipeline (it keeps the newest reading
of each channel: a dict assignment per reading) and asks the alarm engine for its active
alarms when it draws, so it shows what the daemon holds in memory now, not what a query of
the store finds later. An alarm is shown on the row of its channel; a device's alarm (comm
loss) on every row of that device; coldwatch's own checks under the table.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from alarms.engine import AlarmEngine
from alarms.model import AlarmView, Priority
from monitor.app.config import LoadedConfig
from monitor.config.sections import Channel
from monitor.core.display import format_value
from monitor.core.model import Event, Quality, Reading

#: Units shown as words or bare numbers rather than after the value.
_BOOL_UNITS = frozenset({"bool"})
_BARE_UNITS = frozenset({"", "code"})
#: At most this many alarms named in one plain summary line.
_SUMMARY_ALARMS = 4
_CHUNK = 1 << 20
_PRIORITY_STYLE = {Priority.CRITICAL: "bold red", Priority.HIGH: "red", Priority.LOW: "yellow"}


def value_text(value: float | str | None, channel: Channel) -> str:
    """A reading's value as the board shows it, with the channel's unit."""
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if channel.unit in _BOOL_UNITS:
        return "yes" if value else "no"
    if channel.unit == "code":
        return f"{value:.0f}"
    number = format_value(value, channel.decimals)  # as `coldwatch status` shows it
    return number if channel.unit in _BARE_UNITS else f"{number} {channel.unit}"


def age_text(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    if seconds < 120:
        return f"{max(0.0, seconds):.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.0f} h"


def alarm_text(view: AlarmView) -> str:
    return f"{view.code or view.key} {view.priority.value.upper()} {view.state.value}"


@dataclass(frozen=True)
class BoardRow:
    """One channel as the board shows it."""

    unit: str
    channel: str
    channel_id: str
    value: str
    quality: str
    alarms: tuple[AlarmView, ...]
    age: float | None

    @property
    def alarm(self) -> str:
        """The first alarm (as the engine orders them: waiting for an ack, then priority)."""
        if not self.alarms:
            return ""
        more = f" +{len(self.alarms) - 1}" if len(self.alarms) > 1 else ""
        return alarm_text(self.alarms[0]) + more


class PageCount:
    """How many pages the outbox holds: its newlines, read on from where the last count ended."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._offset = 0
        self.count = 0

    def update(self) -> int:
        if self.path is None:
            return 0
        try:
            with self.path.open("rb") as handle:
                handle.seek(self._offset)
                while chunk := handle.read(_CHUNK):
                    self._offset += len(chunk)
                    self.count += chunk.count(b"\n")
        except OSError:
            pass  # not there yet, or unreadable: the count so far
        return self.count


class DemoBoard:
    """The pipeline's newest reading of every channel beside the engine's active alarms."""

    def __init__(
        self, loaded: LoadedConfig, alarms: AlarmEngine | None, outbox: Path | None = None
    ) -> None:
        cfg = loaded.config
        self._alarms = alarms
        self.pages = PageCount(outbox)
        self._channels: list[tuple[str, str, Channel]] = []
        self._device_of: dict[str, str] = {}
        for location in cfg.locations:
            for equipment in location.equipment:
                for channel in equipment.channels:
                    channel_id = f"{equipment.id}.{channel.id}"
                    self._channels.append((equipment.id, channel_id, channel))
                    self._device_of[channel_id] = channel.source.device
        self.units = sorted({unit for unit, _, _ in self._channels})
        self.latest: dict[str, Reading] = {}

    # --- the pipeline's inline consumer: called for every reading, must be fast -----------

    def on_reading(self, reading: Reading) -> None:
        self.latest[reading.channel] = reading

    def on_event(self, event: Event) -> None:
        pass

    # --- what it shows --------------------------------------------------------------------

    def _active(self) -> list[AlarmView]:
        return self._alarms.active() if self._alarms is not None else []

    def rows(self, now: datetime) -> tuple[list[BoardRow], list[AlarmView]]:
        """One row per channel, in configuration order, and the alarms of no channel, device
        or unit (coldwatch's own checks)."""
        by_source: dict[str, list[AlarmView]] = {}
        for view in self._active():
            by_source.setdefault(view.source, []).append(view)
        placed: set[str] = set()
        rows = []
        for unit, channel_id, channel in self._channels:
            device = self._device_of[channel_id]
            sources = [s for s in dict.fromkeys((channel_id, device, unit)) if s in by_source]
            placed.update(sources)
            reading = self.latest.get(channel_id)
            rows.append(
                BoardRow(
                    unit=unit,
                    channel=channel.id,
                    channel_id=channel_id,
                    value=value_text(reading.value if reading else None, channel),
                    quality=reading.quality.value if reading else "no reading",
                    alarms=tuple(v for s in sources for v in by_source[s]),
                    age=(now - reading.ts).total_seconds() if reading else None,
                )
            )
        others = [v for s, views in by_source.items() if s not in placed for v in views]
        return rows, others

    def table(self, now: datetime) -> RenderableType:
        rows, others = self.rows(now)
        pages = self.pages.update()
        table = Table(
            title=f"coldwatch demo  {now:%H:%M:%S} UTC  {len(self.units)} units  "
            f"{len(rows)} channels  {pages} page{'s' if pages != 1 else ''} sent",
            box=box.SIMPLE_HEAD,
            pad_edge=False,
            padding=(0, 1),
        )
        table.add_column("unit", no_wrap=True)
        table.add_column("channel", no_wrap=True)
        table.add_column("value", justify="right", no_wrap=True)
        table.add_column("quality", no_wrap=True)
        table.add_column("alarm", no_wrap=True)
        table.add_column("age", justify="right", no_wrap=True)
        previous = None
        for row in rows:
            quality_style = "green" if row.quality == Quality.GOOD.value else "bold yellow"
            table.add_row(
                row.unit if row.unit != previous else "",
                row.channel,
                row.value,
                Text(row.quality, style=quality_style),
                _alarm_cell(row.alarms, row.alarm),
                age_text(row.age),
                end_section=False,
            )
            previous = row.unit
        lines: list[RenderableType] = [table]
        for view in others:
            lines.append(
                Text.assemble(
                    ("coldwatch: ", "bold"),
                    _alarm_cell((view,), alarm_text(view)),
                    f" {view.condition_text or view.message}",
                )
            )
        lines.append(
            Text(
                "UNACK: to acknowledge  RTN_UNACK: back to normal, to acknowledge  "
                "ACKED: acknowledged, still active",
                style="dim",
            )
        )
        return Group(*lines)

    def summary(self, now: datetime) -> str:
        """One plain line: for a log or a pipe, where the table cannot redraw in place."""
        rows, others = self.rows(now)
        good = sum(r.quality == Quality.GOOD.value for r in rows)
        seen: dict[str, AlarmView] = {}
        for view in [v for r in rows for v in r.alarms] + others:
            seen.setdefault(view.key, view)
        named = [
            f"{v.code or '-'} {v.source} {v.priority.value} {v.state.value}"
            for v in list(seen.values())[:_SUMMARY_ALARMS]
        ]
        if len(seen) > _SUMMARY_ALARMS:
            named.append(f"{len(seen) - _SUMMARY_ALARMS} more")
        pages = self.pages.update()
        return (
            f"{now:%H:%M:%S} UTC  {good}/{len(rows)} channels good  "
            f"alarms: {', '.join(named) if named else 'none'}  pages sent: {pages}"
        )


def _alarm_cell(alarms: tuple[AlarmView, ...], text: str) -> Text:
    if not alarms:
        return Text("-", style="dim")
    first = alarms[0]
    style = _PRIORITY_STYLE.get(first.priority, "")
    if first.needs_ack:
        style += " reverse"
    return Text(text, style=style.strip())


def terminal_width() -> int:
    """Columns for a console that is not a terminal (the table must not wrap in a log)."""
    try:
        return max(100, int(os.environ.get("COLUMNS", "0")))
    except ValueError:
        return 100
