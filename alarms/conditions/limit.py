"""Limits: low-low, low, high, high-high with on-delay, off-delay and deadband.

One alarm per rule and channel; its level is its severity. A value enters a level when it is
strictly beyond the limit (``v > high``, ``v < low``) on good samples for the whole on-delay,
per level: high-high completes its own on-delay and then raises the same alarm's severity. The
alarm leaves a level only when the value is back inside that limit by more than the deadband
(``v < high - deadband``) for the whole off-delay; it then drops to the lower level that still
holds, or clears. Bad samples are ignored: they neither clear the alarm nor touch a delay.

A delay completes at its start + delay on the engine's clock (:meth:`LimitCondition.on_time`),
not at the first sample after it: polling jitter of a fraction of a millisecond must not cost a
whole poll. It completes on the clock only while the newest sample is good (and so still says
which side of the limit the value is on) and fresh, and only if the sample that started it was
fresh (:func:`~alarms.conditions.base.fresh`); the clock counts from the engine's time when that
sample arrived, if later than its timestamp. Otherwise (a bad sample since, a device whose
timestamps lag, data flagged late) a sample at or after the delay's end decides, on its own
timestamp. After a restart the first good sample decides too.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from alarms.conditions.base import Condition, Verdict, fresh, iso, number, parse_ts
from alarms.model import ConditionKind, Level
from alarms.rules.model import Rule
from monitor.core.model import Reading


class LimitCondition(Condition):
    kind = ConditionKind.LIMIT

    def __init__(self, rule: Rule) -> None:
        super().__init__(rule)
        spec = rule.spec
        self.thresholds = {level: value for level, (value, _) in rule.limits.items()}
        self.deadband = spec.deadband or 0.0
        self.on_delay = timedelta(seconds=spec.on_delay or 0.0)
        self.off_delay = timedelta(seconds=spec.off_delay or 0.0)
        self._high = [(lvl, v) for lvl, v in self.thresholds.items() if lvl.high_side]
        self._low = [(lvl, v) for lvl, v in self.thresholds.items() if not lvl.high_side]
        self.pending: dict[Level, datetime] = {}  # level -> first sample beyond it
        self.clearing: datetime | None = None  # first sample back inside (off-delay)
        # where the clock counts each delay from (only those started by a fresh sample)
        self.clock_from: dict[Level, datetime] = {}
        self.clearing_clock: datetime | None = None
        self.newest_good = False  # the newest sample was good and fresh: the clock may complete
        self.newest: float = 0.0  # the newest good sample's value
        # the band in which a sample changes nothing while the alarm is off and no delay runs
        self._top = min((v for _, v in self._high), default=math.inf)
        self._bottom = max((v for _, v in self._low), default=-math.inf)

    def _beyond(self, value: float) -> list[Level]:
        out = [lvl for lvl, limit in self._high if value > limit]
        out.extend(lvl for lvl, limit in self._low if value < limit)
        return out

    def _holds(self, level: Level, value: float) -> bool:
        limit = self.thresholds[level]
        if level.high_side:
            return value >= limit - self.deadband
        return value <= limit + self.deadband

    def on_reading(self, reading: Reading, arrived: datetime | None = None) -> Verdict | None:
        value = number(reading)
        if value is None:
            if self.newest_good:
                self.newest_good = False
                self.dirty |= bool(self.clock_from) or self.clearing_clock is not None
            return None
        self.newest = value
        if not self.active and not self.pending and self._bottom <= value <= self._top:
            return None  # the common case: well inside, nothing pending (nothing to time)
        live = fresh(reading, arrived)
        if live != self.newest_good:
            self.newest_good = live
            self.dirty |= bool(self.clock_from) or self.clearing_clock is not None
        return self._evaluate(value, reading.ts, arrived if live else None)

    def due(self) -> datetime | None:
        """When a pending on- or off-delay completes, while the newest sample is good and
        fresh."""
        if not self.newest_good:
            return None
        current = self.level if self.active else None
        dues = [
            start + self.on_delay
            for lvl, start in self.clock_from.items()
            if current is None or lvl.rank > current.rank or lvl.high_side != current.high_side
        ]
        if self.clearing_clock is not None:
            dues.append(self.clearing_clock + self.off_delay)
        return min(dues) if dues else None

    def on_time(self, now: datetime) -> Verdict | None:
        """Complete the delay that ended by ``now``, at its end, on the newest good sample."""
        due = self.due()
        if due is None or now < due:
            return None
        return self._evaluate(self.newest, due)

    def _evaluate(
        self, value: float, ts: datetime, arrived: datetime | None = None
    ) -> Verdict | None:
        """``arrived``: the engine's time when a fresh sample arrived (the clock may count a
        delay it starts from then); None for the clock itself and for samples not fresh."""
        beyond = self._beyond(value)
        pending = self.pending
        clock_from = self.clock_from
        if pending or beyond:
            for lvl in [lvl for lvl in pending if lvl not in beyond]:
                del pending[lvl]
                clock_from.pop(lvl, None)
                self.dirty = True
            for lvl in beyond:
                if lvl not in pending:
                    pending[lvl] = ts
                    if arrived is not None:
                        clock_from[lvl] = max(ts, arrived)
                    self.dirty = True
        qualified = [lvl for lvl in beyond if ts - pending[lvl] >= self.on_delay]
        target = max(qualified, key=lambda lvl: lvl.rank) if qualified else None
        current = self.level if self.active else None
        if current is None:
            if target is None:
                return None
            self.active, self.level = True, target
            self.clearing = self.clearing_clock = None
            self.dirty = True
            since = min(t for lvl, t in pending.items() if lvl.high_side == target.high_side)
            return self._verdict(True, ts, target, value, since)
        if target is not None and (
            target.rank > current.rank or target.high_side != current.high_side
        ):
            self.level = target
            self.clearing = self.clearing_clock = None
            self.dirty = True
            return self._verdict(True, ts, target, value, pending[target])
        if self._holds(current, value):
            if self.clearing is not None:
                self.clearing = self.clearing_clock = None
                self.dirty = True
            return None
        if self.clearing is None:
            self.clearing = ts
            self.clearing_clock = max(ts, arrived) if arrived is not None else None
            self.dirty = True
        if ts - self.clearing < self.off_delay:
            return None
        self.clearing = self.clearing_clock = None
        self.dirty = True
        lower = [
            lvl
            for lvl in self.thresholds
            if lvl.high_side == current.high_side
            and lvl.rank < current.rank
            and self._holds(lvl, value)
        ]
        if lower:
            self.level = lower[0]
            return self._verdict(True, ts, lower[0], value, None)
        self.active, self.level = False, None
        return self._verdict(False, ts, None, value, None)

    def _verdict(
        self, active: bool, ts: datetime, level: Level | None, value: float, since: datetime | None
    ) -> Verdict:
        unit = self.rule.unit
        if level is None:
            return Verdict(False, ts, None, value, None, None, f"{value:g} {unit}: within limits")
        limit = self.thresholds[level]
        side = "above" if level.high_side else "below"
        detail = f"{value:g} {unit} {side} the {level.text} limit {limit:g} {unit}"
        return Verdict(active, ts, level, value, limit, since, detail)

    def timers(self) -> dict[str, Any]:
        return {
            "pending": {lvl.value: iso(ts) for lvl, ts in self.pending.items()},
            "clearing": iso(self.clearing),
            "clock_from": {lvl.value: iso(ts) for lvl, ts in self.clock_from.items()},
            "clearing_clock": iso(self.clearing_clock),
        }

    def restore(self, active: bool, level: Level | None, timers: dict[str, Any]) -> None:
        super().restore(active, level if level in self.thresholds else None, timers)
        if self.active and self.level is None:  # the limit was removed: keep it active
            self.level = max(self.thresholds, key=lambda lvl: lvl.rank)
        pending = timers.get("pending") or {}
        self.pending = {
            Level(k): ts
            for k, v in pending.items()
            if k in Level._value2member_map_ and (ts := parse_ts(v)) is not None
        }
        self.pending = {lvl: ts for lvl, ts in self.pending.items() if lvl in self.thresholds}
        self.clearing = parse_ts(timers.get("clearing")) if self.active else None
        clocks = timers.get("clock_from") or {}  # absent in older checkpoints: readings decide
        self.clock_from = {
            lvl: ts for lvl in self.pending if (ts := parse_ts(clocks.get(lvl.value))) is not None
        }
        self.clearing_clock = (
            parse_ts(timers.get("clearing_clock")) if self.clearing is not None else None
        )
