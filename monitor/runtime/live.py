"""The latest state of every channel and device, in memory, for the live dashboard.

The dashboard must not ask the store every second: this inline consumer of the pipeline keeps
the newest reading per channel, a few coarse samples for the trend, and each device's up/down
as the coordinator reported it. :meth:`LiveValues.on_reading` runs for every reading on the
poll path, so it is O(1) and allocates nothing but, once per :data:`TREND_STEP` per channel, a
trend sample. Whoever shows the values reads :meth:`snapshot` (at most once a second).

The trend compares the newest good value with the oldest sample of the last
:data:`TREND_WINDOW` (10 minutes): a freezer warming by a degree in ten minutes shows it at
once, while one reading's noise does not flip the arrow. Samples are taken at most every
:data:`TREND_STEP` (30 s) per channel, whatever the poll rate.
"""

from __future__ import annotations

import enum
import logging
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.config.sections import SiteConfig
from monitor.core.logs import RateLimiter
from monitor.core.model import Event, EventKind, Quality, Reading

log = logging.getLogger(__name__)

TREND_WINDOW = timedelta(minutes=10)
TREND_STEP = timedelta(seconds=30)
#: Below this span between the oldest sample and the newest value, no trend is claimed.
TREND_MIN_SPAN = timedelta(minutes=1)
_SAMPLES = int(TREND_WINDOW / TREND_STEP) + 1


class Trend(enum.StrEnum):
    RISING = "rising"
    FALLING = "falling"
    STEADY = "steady"
    UNKNOWN = "unknown"
    """Too few good samples in the window (just started, bad quality, a text channel)."""


@dataclass(frozen=True, slots=True)
class ChannelNow:
    """One channel as the dashboard shows it: its newest reading (None: none yet this run)
    and its trend."""

    channel: str
    reading: Reading | None
    trend: Trend


def trend_of(samples: deque[tuple[datetime, float]], latest: Reading | None, step: float) -> Trend:
    """Rising or falling when the newest good value is at least ``step`` away from the oldest
    sample of the window (``step``: twice the channel's displayed resolution)."""
    if latest is None or latest.quality is not Quality.GOOD or not samples:
        return Trend.UNKNOWN
    value = latest.value
    if not isinstance(value, int | float) or isinstance(value, bool):
        return Trend.UNKNOWN
    horizon = latest.ts - TREND_WINDOW
    oldest = next(((ts, v) for ts, v in samples if ts >= horizon), None)
    if oldest is None or latest.ts - oldest[0] < TREND_MIN_SPAN:
        return Trend.UNKNOWN
    delta = float(value) - oldest[1]
    if delta >= step:
        return Trend.RISING
    if delta <= -step:
        return Trend.FALLING
    return Trend.STEADY


class LiveValues:
    """The pipeline's inline consumer for the dashboard (see the module's docstring)."""

    def __init__(self, config: SiteConfig) -> None:
        self.latest: dict[str, Reading] = {}
        self.device_up: dict[str, bool] = {}
        """Each device's last ``device_up``/``device_down`` this run (absent: not yet told)."""
        self.changes = 0
        """Counts every reading and device change: a reader that saw the same count has
        nothing new to show (ages aside)."""
        self._samples: dict[str, deque[tuple[datetime, float]]] = {}
        self._next_sample: dict[str, datetime] = {}
        self._step: dict[str, float] = {}
        self.faults = 0
        """Readings and events this holder failed to take (logged once a minute)."""
        self._log_limit = RateLimiter(60.0)
        self.configure(config)

    def configure(self, config: SiteConfig) -> None:
        """The channels to keep (a reading of another is ignored) and their trend steps."""
        channels = config.channels()
        self._step = {
            cid: 2 * 10.0 ** -(ch.decimals if ch.decimals is not None else 1)
            for cid, (_, ch) in channels.items()
        }
        self._samples = {cid: self._samples.get(cid, deque(maxlen=_SAMPLES)) for cid in channels}
        self.latest = {cid: r for cid, r in self.latest.items() if cid in channels}
        self.changes += 1

    # --- the pipeline's side: O(1) per reading -----------------------------------------------

    def on_reading(self, reading: Reading) -> None:
        # inline in the pipeline: a fault here must never keep a reading from the store
        try:
            self._take(reading)
        except Exception:
            self.faults += 1
            allowed, held = self._log_limit.allow("reading")
            if allowed:
                log.exception("live values: a reading not taken (%d more not logged)", held)

    def _take(self, reading: Reading) -> None:
        channel = reading.channel
        samples = self._samples.get(channel)
        if samples is None:
            return
        self.latest[channel] = reading
        self.changes += 1
        if reading.quality is Quality.GOOD:
            ts = reading.ts
            due = self._next_sample.get(channel)
            if due is None or ts >= due:
                value = reading.value
                if isinstance(value, int | float) and not isinstance(value, bool):
                    samples.append((ts, float(value)))
                    self._next_sample[channel] = ts + TREND_STEP

    def on_event(self, event: Event) -> None:
        try:
            self._take_event(event)
        except Exception:
            self.faults += 1
            allowed, held = self._log_limit.allow("event")
            if allowed:
                log.exception("live values: an event not taken (%d more not logged)", held)

    def _take_event(self, event: Event) -> None:
        if event.kind == EventKind.DEVICE_DOWN:
            self.device_up[event.source] = False
            self.changes += 1
        elif event.kind == EventKind.DEVICE_UP:
            self.device_up[event.source] = True
            self.changes += 1

    # --- the dashboard's side ----------------------------------------------------------------

    def channel(self, channel: str) -> ChannelNow:
        latest = self.latest.get(channel)
        samples = self._samples.get(channel)
        trend = (
            trend_of(samples, latest, self._step.get(channel, 0.2))
            if samples is not None
            else Trend.UNKNOWN
        )
        return ChannelNow(channel, latest, trend)

    def snapshot(self) -> Mapping[str, ChannelNow]:
        """Every configured channel now (those without a reading too), each worked out when
        it is looked up: whoever reads a few channels pays for those only."""
        return _Snapshot(self)


class _Snapshot(Mapping[str, ChannelNow]):
    def __init__(self, live: LiveValues) -> None:
        self.live = live

    def __getitem__(self, channel: str) -> ChannelNow:
        if channel not in self.live._samples:
            raise KeyError(channel)
        return self.live.channel(channel)

    def __iter__(self) -> Iterator[str]:
        return iter(self.live._samples)

    def __len__(self) -> int:
        return len(self.live._samples)
