"""After an unclean stop every channel's gap is named, however quick the restart.

A run that is killed (SIGKILL, OOM, power) loses what it had read but not yet committed: up
to the store's ``commit_interval``. If the restart came within 1.5 poll intervals of the newest
stored reading, the restart used to write no row for the channel, so a reading that reached
the device before the kill left no trace at all: a silent hole, found by the fault suite
(tests/faults) with a channel polled every 5 s. Now every channel gets its ``stale`` row naming
the gap after an unclean stop; after a clean stop (everything committed) a quick restart still
adds nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from monitor.core.clock import FakeClock
from monitor.core.metrics import Metrics
from monitor.core.model import Event, EventKind, Quality, Reading
from monitor.runtime.health import last_run_marker, record_downtime
from monitor.runtime.pipeline import Pipeline
from monitor.store.sqlite import SQLiteStore
from tests.support.fakes import Collector


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    opened = SQLiteStore(tmp_path / "cw.db")
    opened.open()
    yield opened
    opened.close()


def test_a_quick_restart_after_an_unclean_stop_names_every_channels_gap(
    store: SQLiteStore, clock: FakeClock
) -> None:
    t0 = clock.now()
    store.append(
        [Reading.good("fr.slow", t0, -80.0), Reading.good("fr.fast", t0, -79.0)],
        [Event(t0 - timedelta(minutes=1), EventKind.DAEMON_STARTED, "daemon", "started")],
    )
    sink = Collector()
    pipeline = Pipeline(Metrics())
    pipeline.inline.append(sink)
    now = t0 + timedelta(seconds=3)  # killed just after a poll at t0 + 1 s, restarted at once
    event = record_downtime(
        store,
        pipeline,
        ["fr.slow", "fr.fast"],
        {"fr.slow": 7.5, "fr.fast": 1.5},
        now,
        last_run_marker(store),
    )
    assert event is not None and event.kind == EventKind.UNCLEAN_RESTART
    assert event.data["channels"] == {"fr.slow": t0.isoformat(), "fr.fast": t0.isoformat()}
    assert [(r.channel, r.ts, r.quality) for r in sink.readings] == [
        ("fr.slow", now, Quality.STALE),
        ("fr.fast", now, Quality.STALE),
    ]
    assert all("unclean stop" in (r.detail or "") for r in sink.readings)
