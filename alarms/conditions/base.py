"""What every condition shares: its :class:`Verdict`, the :class:`Condition` interface and the
on/off-delay :class:`Debounce`.

A condition only decides whether its alarm condition is true, from readings (timed on their
timestamps) and, for durations nobody reports on, from the clock (:meth:`Condition.on_time`).
It knows nothing of acknowledgement, shelving or the store. Readings of bad quality never
start, restart, complete or cancel an on-delay, and never clear an active condition, except in
the conditions whose subject is the quality itself.

Delays are timed on the readings' timestamps; the engine's clock may stand in for them (and
complete a delay at its end between two readings) only for fresh readings (:func:`fresh`): a
device whose timestamps lag (a slow clock, a buffer sent after a reconnect, data flagged late)
is judged on its own timestamps alone, so one reading past a limit never completes a delay.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar

from alarms.model import ConditionKind, Level
from alarms.rules.model import Rule
from monitor.core.model import FLAG_LATE, Event, Quality, Reading, Value

#: How far a reading's timestamp may be from the engine's clock when it arrives for the two to
#: count as one timeline (polled devices: milliseconds; a device's own clock kept by NTP: well
#: under a second). Beyond it the reading is judged on its own timestamp only.
FRESH_WITHIN = timedelta(seconds=2)


def fresh(reading: Reading, arrived: datetime | None) -> bool:
    """The reading is live on the engine's clock: not flagged late, and stamped within
    :data:`FRESH_WITHIN` of ``arrived`` (the engine's time when it arrived; None: replayed)."""
    if arrived is None or reading.flags & FLAG_LATE:
        return False
    return -FRESH_WITHIN <= arrived - reading.ts <= FRESH_WITHIN


@dataclass(frozen=True, slots=True)
class Verdict:
    """The condition changed: it became true or false, or (limits) changed level.

    ``at`` is when the change took effect (the reading that completed an on-delay, the end
    of a stale period); ``since`` is when the condition first became true, before its delay.
    """

    active: bool
    at: datetime
    level: Level | None = None
    value: Value | None = None
    limit: float | None = None
    since: datetime | None = None
    detail: str = ""


def iso(ts: datetime | None) -> str | None:
    return ts.isoformat() if ts is not None else None


def parse_ts(text: Any) -> datetime | None:
    return datetime.fromisoformat(text) if isinstance(text, str) else None


_TRUE_WORDS = frozenset({"1", "true", "on", "open", "yes"})


def truthy(value: Value | None) -> bool:
    """An on/off channel's state: numbers are on when non-zero, words like "open" are on."""
    if isinstance(value, str):
        return value.strip().lower() in _TRUE_WORDS
    return bool(value)


def number(reading: Reading) -> float | None:
    """The value of a good numeric reading; None for anything that is not one."""
    if reading.quality is not Quality.GOOD:
        return None
    value = reading.value
    if type(value) is float:  # what ChannelRules makes of every number: the fast path
        return value if math.isfinite(value) else None
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


class Condition:
    """One alarm point's condition. Subclasses override what they react to."""

    kind: ClassVar[ConditionKind]

    def __init__(self, rule: Rule) -> None:
        self.rule = rule
        self.active = False
        self.level: Level | None = None
        self.dirty = False  # timers changed since the engine last checkpointed them

    def fresh(self) -> Condition:
        """A new instance with the same rule: the shadow that evaluates late data."""
        return type(self)(self.rule)

    def on_reading(self, reading: Reading, arrived: datetime | None = None) -> Verdict | None:
        """Evaluate a reading; ``arrived``: the engine's time when it arrived (None when it
        is replayed, as late data is): what lets the clock complete a delay it started."""
        return None

    def on_event(self, event: Event) -> Verdict | None:
        return None

    def due(self) -> datetime | None:
        """The next wall time :meth:`on_time` may change something, if any."""
        return None

    def on_time(self, now: datetime) -> Verdict | None:
        return None

    def timers(self) -> dict[str, Any]:
        """What must survive a restart besides active/level (on-delay starts and the like)."""
        return {}

    def restore(self, active: bool, level: Level | None, timers: dict[str, Any]) -> None:
        self.active = active
        self.level = level
        self.dirty = False

    def begin(self, now: datetime) -> None:
        """The engine starts watching at ``now`` (the origin of a stale timer)."""

    def prime(self, readings: list[Reading]) -> None:
        """Readings from the store before a restart, for windows (rate of change, stale)."""


class Debounce:
    """On-delay and off-delay on sample timestamps.

    The condition turns true once it has been seen true on good samples for the whole
    on-delay (first true sample at t0, a true sample at or after t0 + on_delay), and false
    once seen false for the whole off-delay. A sample agreeing with the current state cancels
    a pending change.

    :meth:`expire` also completes a pending change on the engine's clock, at its end, without
    waiting for the next sample, while the newest sample was good and live (:attr:`live`). The
    clock counts from t0 or, if later, the engine's time when the t0 sample arrived
    (:attr:`clock_from`): never less than the delay after the engine first saw the change. With
    ``fresh_only`` (the default) both the t0 sample and the newest must be fresh (:func:`fresh`);
    otherwise (signals often reported only on change, such as doors) any sample the engine saw
    arrive will do. A sample that could not be evaluated (bad quality, :meth:`unknown`) leaves
    the state unknown, and the next good sample decides.
    """

    __slots__ = ("active", "clock_from", "fresh_only", "live", "off_delay", "on_delay", "since")

    def __init__(self, on_delay: float, off_delay: float, fresh_only: bool = True) -> None:
        self.on_delay = timedelta(seconds=on_delay)
        self.off_delay = timedelta(seconds=off_delay)
        self.fresh_only = fresh_only
        self.active = False
        self.since: datetime | None = None  # first sample of the opposite state
        self.clock_from: datetime | None = None  # where the clock counts the pending change from
        self.live = False  # the newest sample was good (and fresh): the clock may complete

    def unknown(self) -> bool:
        """A sample that says nothing (bad quality); True when this stops a pending change
        from completing on the clock (its due time changed)."""
        changed = self.live and self.clock_from is not None
        self.live = False
        return changed

    def update(
        self, bad: bool, ts: datetime, arrived: datetime | None = None, fresh: bool = False
    ) -> tuple[bool, bool]:
        """(changed state, pending timer changed) after a good sample stamped ``ts`` that
        arrived at ``arrived`` on the engine's clock (``fresh``: see :func:`fresh`)."""
        live = fresh if self.fresh_only else arrived is not None
        relive = live != self.live and self.clock_from is not None
        self.live = live
        changed, timer = self._update(bad, ts, arrived if live else None)
        return changed, timer or relive

    def _update(self, bad: bool, ts: datetime, arrived: datetime | None) -> tuple[bool, bool]:
        if bad == self.active:
            if self.since is None:
                return False, False
            self.since = self.clock_from = None
            return False, True
        timer_changed = False
        if self.since is None:
            self.since = ts
            self.clock_from = max(ts, arrived) if arrived is not None else None
            timer_changed = True
        if ts - self.since >= (self.on_delay if bad else self.off_delay):
            self.active = bad
            self.since = self.clock_from = None
            return True, True
        return False, timer_changed

    def due(self) -> datetime | None:
        """When the pending change completes on the clock (None: none, or the clock may not
        complete it)."""
        if self.clock_from is None or not self.live:
            return None
        return self.clock_from + (self.off_delay if self.active else self.on_delay)

    def expire(self, now: datetime) -> datetime | None:
        """Complete a pending change whose delay has passed by ``now``; return when it took
        effect (its end), or None."""
        due = self.due()
        if due is None or now < due:
            return None
        self.active = not self.active
        self.since = self.clock_from = None
        return due

    def timers(self) -> dict[str, Any]:
        return {"since": iso(self.since), "clock_from": iso(self.clock_from)}

    def restore(self, active: bool, timers: dict[str, Any]) -> None:
        """Back from a checkpoint; a checkpoint without ``clock_from`` (older versions) lets
        change-only signals count from the start (as they did) and the others wait for
        readings."""
        self.active = active
        self.since = parse_ts(timers.get("since"))
        if "clock_from" in timers:
            self.clock_from = parse_ts(timers.get("clock_from"))
        else:
            self.clock_from = None if self.fresh_only else self.since
        if self.since is None:
            self.clock_from = None
