"""Per-source budgets of refused requests: a source that keeps failing is answered 429.

Each source (an IP address, a uid) has a bucket of ``burst`` failures that refills at
``per_minute``; a source whose bucket is empty is *throttled*: its next unauthenticated
request is answered 429 (``Retry-After``) without more work, and that answer spends from the
bucket too, so a flood stays throttled until it stops. Only failures count: an authenticated
request (a valid Twilio signature, a valid token) is never throttled, because behind a
reverse proxy every request has the same source and a flood must not block a real
acknowledgement. The map of sources is bounded (least recently seen dropped first).

Hand-written rather than a rate-limit library: it runs on the daemon's injected clock (a
``FakeClock`` in tests), which the libraries' own timers do not.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass

from monitor.core.clock import Clock

#: Defaults for every listener: 20 refusals at once, then one every 3 seconds.
BURST = 20
PER_MINUTE = 20.0
MAX_SOURCES = 4096


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class FailureThrottle:
    def __init__(
        self,
        clock: Clock,
        *,
        burst: int = BURST,
        per_minute: float = PER_MINUTE,
        max_sources: int = MAX_SOURCES,
    ) -> None:
        self.clock = clock
        self.burst = float(burst)
        self.rate = per_minute / 60.0
        self.max_sources = max_sources
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def retry_after(self, source: str) -> int:
        """Whole seconds until ``source`` may fail again; 0 when it is not throttled."""
        bucket = self._bucket(source, create=False)
        if bucket is None or bucket.tokens >= 1.0:
            return 0
        return max(1, math.ceil((1.0 - bucket.tokens) / self.rate))

    def failed(self, source: str) -> None:
        """Spend one failure of ``source``'s budget."""
        bucket = self._bucket(source, create=True)
        assert bucket is not None
        bucket.tokens = max(0.0, bucket.tokens - 1.0)

    def _bucket(self, source: str, *, create: bool) -> _Bucket | None:
        now = self.clock.monotonic()
        bucket = self._buckets.get(source)
        if bucket is None:
            if not create:
                return None
            if len(self._buckets) >= self.max_sources:
                self._buckets.popitem(last=False)
            bucket = self._buckets[source] = _Bucket(self.burst, now)
        else:
            self._buckets.move_to_end(source)
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
        return bucket
