"""The monitor watching itself: disk space, the system clock, store writes, downtime.

Each check publishes an event on a change of state only (``disk_low`` then ``disk_ok``, not one
per tick), so that the alarm engine can raise system alarms with the same escalation as
equipment alarms, and the record shows when the monitor itself was impaired.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from monitor.core.boot_clock import BootStamp
from monitor.core.clock import Clock
from monitor.core.model import Event, EventKind, Quality, Reading
from monitor.runtime.gap_measure import measure_gap
from monitor.runtime.pipeline import Pipeline
from monitor.runtime.stop_record import StopRecord
from monitor.store.base import Store
from monitor.store.writer import StoreWriter

log = logging.getLogger(__name__)

_TIME_ERROR = 5  # adjtimex(2): the clock is not synchronised


def kernel_clock_synchronised() -> bool | None:
    """Whether the kernel says NTP keeps the clock synchronised (None: cannot tell)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        timex = ctypes.create_string_buffer(512)  # struct timex with modes = 0: read only
        state = libc.adjtimex(timex)
    except (OSError, AttributeError):
        return None
    if state < 0:
        return None
    return bool(state != _TIME_ERROR)


@dataclass(frozen=True)
class DiskUsage:
    total: int
    free: int

    @property
    def free_fraction(self) -> float:
        return self.free / self.total if self.total else 0.0


def disk_usage_of(path: Path) -> DiskUsage:
    usage = shutil.disk_usage(path)
    return DiskUsage(usage.total, usage.free)


class HealthMonitor:
    """Runs the checks every ``tick`` seconds on the injected clock."""

    def __init__(
        self,
        pipeline: Pipeline,
        clock: Clock,
        writer: StoreWriter,
        data_dir: Path | None,
        *,
        tick: float = 30.0,
        disk_low_fraction: float = 0.10,
        disk_low_bytes: int = 1 << 30,
        clock_step_tolerance: float = 2.0,
        disk_usage: Callable[[Path], DiskUsage] = disk_usage_of,
        clock_synchronised: Callable[[], bool | None] = kernel_clock_synchronised,
    ) -> None:
        self.pipeline = pipeline
        self.clock = clock
        self.writer = writer
        self.data_dir = data_dir
        self.tick = tick
        self.disk_low_fraction = disk_low_fraction
        self.disk_low_bytes = disk_low_bytes
        self.clock_step_tolerance = clock_step_tolerance
        self.disk_usage = disk_usage
        self.clock_synchronised = clock_synchronised
        self.disk_low = False
        self.synchronised: bool | None = None
        self.store_failing = False
        self._last: tuple[float, datetime] | None = None

    def _event(self, kind: str, message: str, data: dict[str, Any] | None = None) -> None:
        log.warning(message)
        self.pipeline.publish_event(Event(self.clock.now(), kind, "coldwatch", message, data or {}))

    async def run(self) -> None:
        start = self.clock.monotonic()
        n = 0
        while True:
            self.check()
            n += 1
            await self.clock.sleep_until(start + n * self.tick)

    def check(self) -> None:
        for check in (
            self.check_disk,
            self.check_clock_step,
            self.check_clock_sync,
            self.check_store,
        ):
            try:
                check()
            except Exception:  # one broken check must not stop the others
                log.exception("health check %s failed", check.__name__)

    def check_disk(self) -> None:
        if self.data_dir is None:
            return
        usage = self.disk_usage(self.data_dir)
        low = usage.free_fraction < self.disk_low_fraction or usage.free < self.disk_low_bytes
        recovered = (
            usage.free_fraction >= self.disk_low_fraction * 1.5
            and usage.free >= self.disk_low_bytes
        )
        data = {
            "free_bytes": usage.free,
            "total_bytes": usage.total,
            "free_percent": round(usage.free_fraction * 100, 1),
            "path": str(self.data_dir),
        }
        if low and not self.disk_low:
            self.disk_low = True
            self._event(
                EventKind.DISK_LOW,
                f"disk nearly full where the records are kept: {data['free_percent']}% "
                f"({usage.free // (1 << 20)} MiB) free at {self.data_dir}",
                data,
            )
        elif self.disk_low and recovered:
            self.disk_low = False
            self._event(
                EventKind.DISK_OK, f"disk space recovered: {data['free_percent']}% free", data
            )

    def check_clock_step(self) -> None:
        mono, wall = self.clock.monotonic(), self.clock.now()
        if self._last is not None:
            last_mono, last_wall = self._last
            expected = last_wall + timedelta(seconds=mono - last_mono)
            step = (wall - expected).total_seconds()
            if abs(step) > self.clock_step_tolerance:
                self._event(
                    EventKind.CLOCK_STEP,
                    f"system clock stepped by {step:+.1f} s; readings around "
                    f"{expected.isoformat(timespec='seconds')} may be misplaced in time",
                    {
                        "step_seconds": round(step, 3),
                        "expected": expected.isoformat(),
                        "actual": wall.isoformat(),
                    },
                )
        self._last = (mono, wall)

    def check_clock_sync(self) -> None:
        synced = self.clock_synchronised()
        if synced is None or synced == self.synchronised:
            return
        previous, self.synchronised = self.synchronised, synced
        if not synced:
            self._event(
                EventKind.CLOCK_UNSYNCHRONISED,
                "system clock is not synchronised (NTP): reading timestamps may drift",
            )
        elif previous is False:
            self._event(EventKind.CLOCK_SYNCHRONISED, "system clock synchronised again")

    def check_store(self) -> None:
        error = self.writer.last_error
        if error is not None and not self.store_failing:
            self.store_failing = True
            self._event(
                EventKind.STORE_WRITE_FAILED,
                f"store writes failing; readings are held in memory: {error}",
                {"error": error, "backlog": self.writer.backlog},
            )
        elif error is None and self.store_failing:
            self.store_failing = False
            self._event(EventKind.STORE_WRITE_RECOVERED, "store writes recovered")


def last_run_marker(store: Store) -> Event | None:
    """The newest ``daemon_started`` or ``daemon_stopped`` event: how the last run ended."""
    runs = store.events(
        kinds=[EventKind.DAEMON_STARTED, EventKind.DAEMON_STOPPED], limit=1, newest_first=True
    )
    return runs[0] if runs else None


def record_downtime(
    store: Store,
    pipeline: Pipeline,
    channels: Sequence[str],
    expected_interval: dict[str, float],
    now: datetime,
    last_run: Event | None,
    *,
    here: BootStamp | None = None,
    synchronised: bool | None = None,
) -> Event | None:
    """At start: make the time coldwatch was not running visible in the records.

    If the last run did not stop cleanly, an ``unclean_restart`` event says so, and every
    channel gets one ``stale`` row naming the gap since its newest stored reading: what the
    killed run had read but not yet committed (up to ``commit_interval``) is gone, however
    quick the restart. After a clean stop, every channel whose newest reading is older than
    its interval (or whose gap cannot be measured) gets that row. A ``downtime`` event lists
    them: a gap is a row, never a hole.
    After a clean stop the event and the rows say who stopped coldwatch and why (the
    :class:`~monitor.runtime.stop_record.StopRecord` in the ``daemon_stopped`` event), or that
    a bare signal's sender is unknown; whether the gap pages is the alarm rule's to decide
    (``coldwatch/monitoring_gap``). How long, and on which clock, is
    :func:`~monitor.runtime.gap_measure.measure_gap`'s: ``here`` is this boot's stamp and
    ``synchronised`` the kernel's NTP state now (None: no boot clock, state unknown).
    ``last_run``: the marker read (:func:`last_run_marker`) before this run wrote its own."""
    if last_run is None:
        return None  # a new store: nothing was missed
    latest = store.latest(list(channels))
    last_seen = max([r.ts for r in latest.values()] + [last_run.ts])
    unclean = last_run.kind == EventKind.DAEMON_STARTED
    stop = None if unclean else StopRecord.from_json(last_run.data.get("stop"))
    marker_boot = BootStamp.from_json(last_run.data.get("boot"))
    wall = (now - last_seen).total_seconds()
    gap = measure_gap(marker_boot, here, wall, synchronised, clean=not unclean)
    why = f"not running for {gap.describe()}"
    if unclean:
        why += " or stopped before storing it (unclean stop)"
    elif stop is not None:
        why += f": {stop.describe()}"
    gaps = {}
    for channel in channels:
        seen = latest[channel].ts if channel in latest else None
        interval = expected_interval.get(channel, 0)
        overdue = (
            seen is None
            or gap.seconds is None
            or gap.seconds > interval
            or (now - seen).total_seconds() > interval
        )
        if unclean or overdue:
            since = seen.isoformat() if seen else None
            gaps[channel] = since
            pipeline.publish(
                Reading(
                    channel,
                    now,
                    None,
                    Quality.STALE,
                    0,
                    f"no data since {since or 'the last run'}: coldwatch was {why}",
                )
            )
    data: dict[str, Any] = {
        "from": last_seen.isoformat(),
        "to": now.isoformat(),
        **gap.to_json(),
        "unclean": unclean,
        "channels": gaps,
    }
    if unclean:
        event = Event(
            now,
            EventKind.UNCLEAN_RESTART,
            "coldwatch",
            f"coldwatch did not stop cleanly; not running for about {gap.describe()} "
            f"(since {last_seen.isoformat(timespec='seconds')})",
            data,
        )
    else:
        message = f"coldwatch was stopped for {gap.describe()}"
        if stop is not None:
            data["stop"] = stop.to_json()
            data["planned"] = stop.planned
            data["stopped_by"] = stop.stopped_by
            data["reason"] = stop.reason
            message += f": {stop.describe()}"
        event = Event(
            now,
            EventKind.DOWNTIME,
            "coldwatch",
            message,
            data,
            stop.person if stop is not None else None,
        )
    pipeline.publish_event(event)
    return event
