"""Late data: readings older than the newest already seen for their channel.

They cannot go through the live condition (its timers have moved on), and they must not be
recorded silently. Late readings come in bursts (a logger's backlog, a device's buffer after a
reconnect), in any order: each point's are held until no more arrived for ``settle`` seconds,
then evaluated in timestamp order by a shadow condition; an excursion found there is reported
as a finding, which the engine announces as ``late-found``. A shadow lives on while the next
bursts continue forward in time; a burst from further back starts a fresh one.

A replay is judged on the readings' own timestamps, with them as its clock: each reading is
taken as arriving at its timestamp, and a delay pending when the replay's time reaches its end
completes there, on the newest good reading, as the engine's clock completes one for live
readings. So a late burst of 1 s readings finds a 10 s on-delay's excursion at t0 + 10 s (not
at the next reading), and a door reported open and then, later, closed is found open.

Readings that are in order but carry ``FLAG_LATE`` (a device timestamp older than its arrival
window) go through the live condition as usual; the engine marks what they cause as late.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from alarms.conditions import REPLAYABLE, Condition, Verdict
from alarms.model import Level
from monitor.core.model import FLAG_LATE, Reading, Value, is_finite_number

if TYPE_CHECKING:
    from alarms.point import AlarmPoint


#: Delays a replay completes at most between two readings (each completion changes the state,
#: so a limit's levels need a few; the bound only guards against a condition that never settles).
_MAX_COMPLETIONS = 8


@dataclass
class Finding:
    """An excursion found in late data."""

    start: datetime
    since: datetime | None
    level: Level | None
    value: Value | None
    limit: float | None
    detail: str
    end: datetime | None = None
    low: float | None = None
    high: float | None = None
    readings: int = 0

    def data(self) -> dict[str, object]:
        return {
            "start": self.start.isoformat(),
            "since": self.since.isoformat() if self.since else None,
            "end": self.end.isoformat() if self.end else None,
            "level": self.level.value if self.level else None,
            "min": self.low,
            "max": self.high,
            "readings": self.readings,
            "detail": self.detail,
        }


@dataclass
class _Shadow:
    condition: Condition
    last: datetime
    open: Finding | None = None


class LateLane:
    #: A burst this large is evaluated without waiting for it to end.
    MAX_HELD = 100_000

    def __init__(self, settle: float = 5.0) -> None:
        self.settle = timedelta(seconds=settle)
        self.queue: dict[str, list[Reading]] = {}
        self.last_added: dict[str, datetime] = {}
        self.shadows: dict[str, _Shadow] = {}

    def __bool__(self) -> bool:
        return bool(self.queue)

    def add(self, point: AlarmPoint, reading: Reading, now: datetime) -> None:
        if point.rule.kind in REPLAYABLE:
            self.queue.setdefault(point.key, []).append(reading)
            self.last_added[point.key] = now

    def due(self) -> datetime | None:
        return min(self.last_added.values()) + self.settle if self.last_added else None

    def drain(
        self, points: dict[str, AlarmPoint], now: datetime
    ) -> list[tuple[AlarmPoint, Finding, bool]]:
        """Evaluate the bursts that ended by ``now``: (point, finding, True when found,
        False when it ended)."""
        out: list[tuple[AlarmPoint, Finding, bool]] = []
        for key in list(self.queue):
            readings = self.queue[key]
            if now < self.last_added[key] + self.settle and len(readings) < self.MAX_HELD:
                continue
            del self.queue[key], self.last_added[key]
            point = points.get(key)
            if point is None:
                continue
            readings.sort(key=lambda r: r.ts)
            shadow = self.shadows.get(key)
            if shadow is None or readings[0].ts < shadow.last:
                shadow = _Shadow(point.condition.fresh(), readings[0].ts)
                self.shadows[key] = shadow
            for reading in readings:
                self._step(point, shadow, reading, out)
        return out

    @staticmethod
    def _step(
        point: AlarmPoint,
        shadow: _Shadow,
        reading: Reading,
        out: list[tuple[AlarmPoint, Finding, bool]],
    ) -> None:
        shadow.last = reading.ts
        condition = shadow.condition
        for _ in range(_MAX_COMPLETIONS):  # the replay's clock reaches this reading's time
            due = condition.due()
            if due is None or due > reading.ts:
                break
            LateLane._found(point, shadow, condition.on_time(due), out)
        if reading.flags & FLAG_LATE:  # in the replay it arrives at its own time: live
            reading = replace(reading, flags=reading.flags & ~FLAG_LATE)
        verdict = condition.on_reading(reading, reading.ts)
        finding = shadow.open
        if finding is not None and reading.channel == point.rule.source:
            finding.readings += 1
            if is_finite_number(reading.value):
                value = float(reading.value)  # type: ignore[arg-type]
                finding.low = value if finding.low is None else min(finding.low, value)
                finding.high = value if finding.high is None else max(finding.high, value)
        LateLane._found(point, shadow, verdict, out)

    @staticmethod
    def _found(
        point: AlarmPoint,
        shadow: _Shadow,
        verdict: Verdict | None,
        out: list[tuple[AlarmPoint, Finding, bool]],
    ) -> None:
        """A change in the replay: an excursion found, raised in level, or ended."""
        finding = shadow.open
        if verdict is None:
            return
        if verdict.active and finding is None:
            number = float(verdict.value) if is_finite_number(verdict.value) else None  # type: ignore[arg-type]
            shadow.open = Finding(
                verdict.at,
                verdict.since,
                verdict.level,
                verdict.value,
                verdict.limit,
                verdict.detail,
                low=number,
                high=number,
                readings=1,
            )
            out.append((point, shadow.open, True))
        elif verdict.active and finding is not None:
            if verdict.level is not None and (
                finding.level is None or verdict.level.rank > finding.level.rank
            ):
                finding.level, finding.detail = verdict.level, verdict.detail
        elif finding is not None:
            finding.end = verdict.at
            shadow.open = None
            out.append((point, finding, False))
