"""The per-minute roll-up: equal to the raw readings over the same minutes, kept in each
batch's transaction, completed when behind, re-derived after a purge, and checked by verify
as derived data (drift reported apart from the chain)."""

from __future__ import annotations

import sqlite3
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.core.model import Quality, Reading
from monitor.store.sqlite import SQLiteStore
from monitor.store.sqlite_rollup import MINUTE_US

T0 = datetime(2026, 3, 1, tzinfo=UTC)
CHANNELS = ("ult-1.temp", "ult-2.temp")


@st.composite
def readings(draw: st.DrawFn) -> Reading:
    ts = T0 + timedelta(seconds=draw(st.integers(-400, 400)), microseconds=draw(st.integers(0, 9)))
    channel = draw(st.sampled_from(CHANNELS))
    quality = draw(st.sampled_from([Quality.GOOD, Quality.GOOD, Quality.GOOD, Quality.COMM_ERROR]))
    if quality is not Quality.GOOD:
        return Reading.bad(channel, ts, quality, "timeout")
    value = draw(
        st.floats(-1e6, 1e6, allow_nan=False) | st.integers(-(10**6), 10**6) | st.just("OK")
    )
    return Reading(channel, ts, value, quality)


def expected_minutes(
    rows: list[Reading],
) -> dict[tuple[str, int], tuple[int, float | None, float | None, float | None, int]]:
    """n, min, max, mean and bad per (channel, minute start in µs), straight from the readings."""
    groups: dict[tuple[str, int], list[Reading]] = {}
    for r in rows:
        us = (r.ts - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
        groups.setdefault((r.channel, us - us % MINUTE_US), []).append(r)
    result = {}
    for key, group in groups.items():
        good = [
            float(r.value)
            for r in group
            if r.quality is Quality.GOOD and isinstance(r.value, int | float)
        ]
        mean = sum(good) / len(good) if good else None
        result[key] = (
            len(good),
            min(good) if good else None,
            max(good) if good else None,
            mean,
            len(group) - len(good),
        )
    return result


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(readings(), max_size=30), min_size=1, max_size=5))
def test_rollup_equals_raw_min_max_mean_count_over_the_same_minutes(
    batches: list[list[Reading]],
) -> None:
    with tempfile.TemporaryDirectory() as tmp, SQLiteStore(Path(tmp) / "s.db") as store:
        for batch in batches:
            store.append(batch)
        everything = [r for batch in batches for r in batch]
        want = expected_minutes(everything)
        got = {}
        for channel in CHANNELS:
            for b in store.rollup(channel, T0 - timedelta(hours=1), T0 + timedelta(hours=1)):
                got[(channel, b.start)] = (b.n, b.min, b.max, b.mean, b.bad)
        assert got.keys() == want.keys()
        for key, (n, lo, hi, mean, bad) in want.items():
            g_n, g_lo, g_hi, g_mean, g_bad = got[key]
            assert (g_n, g_lo, g_hi, g_bad) == (n, lo, hi, bad)
            assert g_mean == (None if mean is None else pytest.approx(mean, rel=1e-9, abs=1e-6))
        result = store.verify()
        assert result.ok and result.rollup_drift is None


def _minute_series(store: SQLiteStore, minutes: int) -> None:
    for m in range(minutes):
        store.append(
            [Reading.good("ult-1.temp", T0 + timedelta(minutes=m, seconds=s), -80.0 + s / 10)
             for s in range(0, 60, 10)]
        )  # fmt: skip


def test_buckets_merge_minutes(store: SQLiteStore) -> None:
    _minute_series(store, 30)
    (whole,) = store.rollup("ult-1.temp", T0, T0 + timedelta(minutes=30), bucket_minutes=30)
    assert (whole.n, whole.min, whole.max, whole.bad) == (180, -80.0, -75.0, 0)
    assert whole.mean == pytest.approx(-77.5)
    assert len(store.rollup("ult-1.temp", T0, T0 + timedelta(minutes=30), bucket_minutes=10)) == 3


def test_verify_reports_a_tampered_rollup_as_drift_not_a_broken_chain(
    store: SQLiteStore, raw: sqlite3.Connection
) -> None:
    _minute_series(store, 5)
    raw.execute("UPDATE rollup_minutes SET max = -20.0 WHERE minute = ?", (
        (T0 + timedelta(minutes=2) - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1),
    ))  # fmt: skip
    result = store.verify()
    assert result.ok  # the records are intact
    assert result.rollup_drift is not None
    assert "ult-1.temp at 2026-03-01T00:02:00+00:00" in result.rollup_drift
    assert "max=-20.0 (readings: -75.0)" in result.rollup_drift
    assert store.rebuild_rollup() == 5
    assert store.verify().rollup_drift is None


def test_verify_reports_a_deleted_rollup_row(store: SQLiteStore, raw: sqlite3.Connection) -> None:
    _minute_series(store, 3)
    raw.execute(
        "DELETE FROM rollup_minutes WHERE minute = (SELECT min(minute) FROM rollup_minutes)"
    )
    drift = store.verify().rollup_drift
    assert drift is not None and "missing from the roll-up" in drift


def test_a_store_behind_is_completed_when_opened(db_path: Path) -> None:
    """A store written without the roll-up (as one migrated from schema 6 has readings the
    roll-up lacks) is behind; verify says so, and the next open completes it."""
    with SQLiteStore(db_path, rollup=False) as store:
        _minute_series(store, 4)
    with SQLiteStore(db_path, read_only=True) as reader:
        drift = reader.verify().rollup_drift
        assert drift is not None and "behind" in drift
    with SQLiteStore(db_path) as store:
        assert len(store.rollup("ult-1.temp", T0, T0 + timedelta(hours=1))) == 4
        assert store.verify().rollup_drift is None


def test_the_rollup_stays_equal_to_the_readings_across_a_purge(store: SQLiteStore) -> None:
    _minute_series(store, 10)
    # a late reading in minute 1, committed after the batches to be purged
    store.append([Reading.good("ult-1.temp", T0 + timedelta(minutes=1, seconds=5), -90.0)])
    assert store.purge_before(T0 + timedelta(minutes=5), "alice", "retention test") == 30
    result = store.verify()
    assert result.ok and result.rollup_drift is None
    first = store.rollup("ult-1.temp", T0, T0 + timedelta(hours=1))[0]
    assert (first.n, first.min) == (1, -90.0)  # minute 1 keeps only the late reading


def test_a_broken_rollup_never_refuses_readings_nor_the_stores_opening(db_path: Path) -> None:
    """Derived data: with its state row gone (say, someone emptied the table), the store still
    opens and every batch of readings is stored; the roll-up is undone alone."""
    with SQLiteStore(db_path) as store:
        _minute_series(store, 2)
    raw = sqlite3.connect(db_path)
    raw.execute("DELETE FROM rollup_state")
    raw.commit()
    raw.close()
    with SQLiteStore(db_path) as store:
        store.append([Reading.good("ult-1.temp", T0 + timedelta(minutes=5), -79.0)])
        result = store.verify()
        assert result.ok and result.rollup_drift is not None and "rebuild" in result.rollup_drift
        assert store.rebuild_rollup() == 3  # the three minutes, derived again
        assert store.verify().rollup_drift is None
    raw = sqlite3.connect(db_path)
    assert raw.execute("SELECT count(*) FROM readings").fetchone()[0] == 13  # 2 x 6, and 1
    raw.close()
