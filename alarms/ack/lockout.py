"""PIN lockout per phone number: N wrong PINs within a window lock that number for a while.

A 4-digit PIN falls to a few thousand guesses; at 5 wrong guesses per 15 minutes that takes
weeks, and every guess is a recorded refusal. Keyed by phone number, so SMS and voice attempts
for one handset share the count. Timed on the injected clock's monotonic time while running;
with a :class:`~alarms.records.lockout_log.LockoutLog` every change is also written (wall-clock
time) and read back at start, so a restart neither unlocks a number nor forgets its count.
"""

from __future__ import annotations

import logging
import sqlite3
from collections import deque
from datetime import timedelta

from alarms.records.lockout_log import LockoutLog, LockoutRow
from monitor.core.clock import Clock
from monitor.core.logs import RateLimiter

log = logging.getLogger("alarms.ack")

_MAX_KEYS = 10_000


class PinLockout:
    """``attempts`` wrong PINs within ``window`` seconds lock the key for ``duration``
    seconds from the last of them; a right PIN (while not locked) clears the count.

    ``record``: where the lockout is kept across restarts; it is read here, once. A record that
    cannot be written is logged and the lockout goes on in memory (it still protects until the
    next restart)."""

    def __init__(
        self,
        clock: Clock,
        attempts: int = 5,
        window: float = 900.0,
        duration: float = 900.0,
        record: LockoutLog | None = None,
    ) -> None:
        if attempts < 1 or window <= 0 or duration <= 0:
            raise ValueError("lockout needs attempts >= 1 and positive window and duration")
        self.clock = clock
        self.attempts = attempts
        self.window = window
        self.duration = duration
        self.record = record
        self._failures: dict[str, deque[float]] = {}
        self._locked_until: dict[str, float] = {}
        self._limiter = RateLimiter(300.0)
        if record is not None:
            self._load(record)

    def remaining(self, key: str) -> float:
        """Seconds until ``key`` is unlocked; 0 when it is not locked."""
        until = self._locked_until.get(key)
        if until is None:
            return 0.0
        left = until - self.clock.monotonic()
        if left <= 0:
            del self._locked_until[key]
            self._failures.pop(key, None)
            return 0.0
        return left

    def tries_left(self, key: str) -> int:
        """Wrong PINs ``key`` may still enter before it is locked."""
        if self.remaining(key):
            return 0
        return self.attempts - len(self._recent(key))

    def failed(self, key: str) -> bool:
        """Count a wrong PIN; True when this one locks the key."""
        if self.remaining(key):
            return False
        if key not in self._failures and len(self._failures) >= _MAX_KEYS:
            self._prune()
        recent = self._recent(key)
        recent.append(self.clock.monotonic())
        self._failures[key] = recent
        now = self.clock.now()
        rows = [LockoutRow(now, key, "failed")]
        locked = len(recent) >= self.attempts
        if locked:
            self._locked_until[key] = self.clock.monotonic() + self.duration
            recent.clear()
            rows.append(LockoutRow(now, key, "locked", now + timedelta(seconds=self.duration)))
        self._write(rows)
        return locked

    def succeeded(self, key: str) -> None:
        if self._failures.pop(key, None):
            self._write([LockoutRow(self.clock.now(), key, "reset")])

    def clear(self, key: str) -> None:
        """Unlock at once (an administrator's decision)."""
        had = bool(self._failures.pop(key, None))
        if self._locked_until.pop(key, None) is not None or had:
            self._write([LockoutRow(self.clock.now(), key, "unlocked")])

    def _recent(self, key: str) -> deque[float]:
        recent = self._failures.get(key, deque())
        horizon = self.clock.monotonic() - self.window
        while recent and recent[0] <= horizon:
            recent.popleft()
        return recent

    def _prune(self) -> None:
        for key in list(self._failures):
            if not self._recent(key):
                del self._failures[key]
        if len(self._failures) >= _MAX_KEYS:  # a flood of numbers: forget the oldest half
            for key in list(self._failures)[: _MAX_KEYS // 2]:
                del self._failures[key]

    # --- the record ---------------------------------------------------------------------------

    def _write(self, rows: list[LockoutRow]) -> None:
        if self.record is None:
            return
        try:
            self.record.append(rows)
        except sqlite3.Error as exc:
            allowed, suppressed = self._limiter.allow("write")
            if allowed:
                more = f" ({suppressed} more not logged)" if suppressed else ""
                log.error(
                    "the PIN lockout could not be recorded (%s): it holds until a restart%s",
                    exc,
                    more,
                )

    def _load(self, record: LockoutLog) -> None:
        """Replay the rows of the last ``max(window, duration)``: failures still within the
        window count, a lock still running holds (never longer than ``duration`` from when it
        began, should the setting have been shortened or the clock set back)."""
        now, mono = self.clock.now(), self.clock.monotonic()
        try:
            rows = record.since(now - timedelta(seconds=max(self.window, self.duration)))
        except sqlite3.Error as exc:
            log.error("the PIN lockout record cannot be read (%s): starting without it", exc)
            return
        for row in rows:
            at = mono - max(0.0, (now - row.at).total_seconds())  # never in the future
            if row.action == "failed":
                self._failures.setdefault(row.key, deque()).append(at)
            elif row.action == "locked":
                self._failures.pop(row.key, None)
                length = self.duration
                if row.until is not None:
                    length = min(length, max(0.0, (row.until - row.at).total_seconds()))
                if at + length > mono:
                    self._locked_until[row.key] = at + length
                else:
                    self._locked_until.pop(row.key, None)
            else:  # reset (a right PIN), unlocked (an administrator)
                self._failures.pop(row.key, None)
                if row.action == "unlocked":
                    self._locked_until.pop(row.key, None)
        for key, times in list(self._failures.items()):
            self._failures[key] = deque(sorted(times))
            if not self._recent(key):
                del self._failures[key]
        if len(self._failures) >= _MAX_KEYS:
            self._prune()
        if self._locked_until or self._failures:
            log.info(
                "PIN lockout restored: %d number(s) locked, %d with wrong PINs counted",
                len(self._locked_until),
                len(self._failures),
            )
