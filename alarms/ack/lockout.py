"""PIN lockout per phone number: N wrong PINs within a window lock that number for a while.

A 4-digit PIN falls to a few thousand guesses; at 5 wrong guesses per 15 minutes that takes
weeks, and every guess is a recorded refusal. Keyed by phone number, so SMS and voice attempts
for one handset share the count. Timed on the injected clock's monotonic time.
"""

from __future__ import annotations

from collections import deque

from monitor.clock import Clock

_MAX_KEYS = 10_000


class PinLockout:
    """``attempts`` wrong PINs within ``window`` seconds lock the key for ``duration``
    seconds from the last of them; a right PIN (while not locked) clears the count."""

    def __init__(
        self, clock: Clock, attempts: int = 5, window: float = 900.0, duration: float = 900.0
    ) -> None:
        if attempts < 1 or window <= 0 or duration <= 0:
            raise ValueError("lockout needs attempts >= 1 and positive window and duration")
        self.clock = clock
        self.attempts = attempts
        self.window = window
        self.duration = duration
        self._failures: dict[str, deque[float]] = {}
        self._locked_until: dict[str, float] = {}

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
        if len(recent) >= self.attempts:
            self._locked_until[key] = self.clock.monotonic() + self.duration
            recent.clear()
            return True
        return False

    def succeeded(self, key: str) -> None:
        self._failures.pop(key, None)

    def clear(self, key: str) -> None:
        """Unlock at once (an administrator's decision)."""
        self._failures.pop(key, None)
        self._locked_until.pop(key, None)

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
