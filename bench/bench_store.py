"""Store ingest: ``SQLiteStore.append`` beside a bare ``sqlite3`` ``executemany``.

Both write the same ``readings`` table (created by the store's own migrations, so the same
columns, index and triggers) with the same PRAGMAs
(:func:`monitor.store.sqlite_schema.apply_pragmas`), in batches of ``batch`` rows, each batch
one transaction, into fresh temporary files. The raw side gets tuples prepared in advance; the
store side gets :class:`Reading` objects and does all its work (conversion, hashing, the batch
row). The target is ``store_ingest_ratio >= 0.8``.

Also measured, for information: the raw rate with one commit per row, and the cost of the
per-minute roll-up kept in each batch's transaction (:mod:`monitor.store.sqlite_rollup`): the
store's rate with it and without it (``SQLiteStore(rollup=False)``), interleaved the same way.

    python -m bench.bench_store            # prints one JSON line
"""

from __future__ import annotations

import json
import random
import sqlite3
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.core.model import FLAG_LATE, Quality, Reading
from monitor.store.canonical import to_us
from monitor.store.sqlite import SQLiteStore
from monitor.store.sqlite_schema import apply_pragmas, connect

CHANNELS = 50
BAD_EVERY = 97  # about 1% of the readings are failed samples: no value, a bad quality
PER_ROW_COMMIT_ROWS = 5_000

_RAW_INSERT = (
    "INSERT INTO readings (channel, ts, value, quality, flags, detail, batch) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)


def make_readings(rows: int, seed: int = 1) -> list[Reading]:
    """Readings of 50 freezer channels every 20 ms, with a few failed samples and flags."""
    rng = random.Random(seed)
    start = datetime(2026, 3, 1, tzinfo=UTC)
    step = timedelta(milliseconds=20)
    readings: list[Reading] = []
    for i in range(rows):
        channel = f"site-a.ult-{i % CHANNELS:02d}.cabinet_temp"
        ts = start + i * step
        if i % BAD_EVERY == 0:
            readings.append(Reading.bad(channel, ts, Quality.COMM_ERROR, "timeout after 1.0 s"))
        else:
            flags = FLAG_LATE if i % 1000 == 1 else 0
            readings.append(Reading.good(channel, ts, round(-80.0 + rng.gauss(0, 0.5), 3), flags))
    return readings


def raw_tuples(readings: list[Reading], batch: int) -> list[tuple[object, ...]]:
    return [
        (r.channel, to_us(r.ts), r.value, r.quality.value, r.flags, r.detail, i // batch + 1)
        for i, r in enumerate(readings)
    ]


def _schema(path: Path) -> None:
    with SQLiteStore(path):
        pass


def raw_per_row_commit(path: Path, rows: list[tuple[object, ...]]) -> float:
    _schema(path)
    conn = sqlite3.connect(str(path), isolation_level=None)
    try:
        apply_pragmas(conn)
        started = time.perf_counter()
        for row in rows:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(_RAW_INSERT, row)
            conn.execute("COMMIT")
        elapsed = time.perf_counter() - started
    finally:
        conn.close()
    return len(rows) / elapsed


def interleaved(
    raw_path: Path,
    store_path: Path,
    readings: list[Reading],
    prepared: list[tuple[object, ...]],
    batch: int,
) -> tuple[float, float]:
    """Raw and store rows/s, one raw batch then one store batch in turn, so that both see the
    same machine (other processes, CPU frequency, page cache) over the whole run."""
    _schema(raw_path)
    raw_time = store_time = 0.0
    clock = time.perf_counter
    conn = connect(raw_path)
    try:
        with SQLiteStore(store_path) as store:
            for k in range(0, len(readings), batch):
                started = clock()
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(_RAW_INSERT, prepared[k : k + batch])
                conn.execute("COMMIT")
                raw_time += clock() - started
                started = clock()
                store.append(readings[k : k + batch])
                store_time += clock() - started
            result = store.verify()
    finally:
        conn.close()
    if not result.ok or result.readings != len(readings):
        raise RuntimeError(f"the benchmark store does not verify: {result}")
    return len(readings) / raw_time, len(readings) / store_time


def rollup_cost(folder: Path, readings: list[Reading], batch: int) -> tuple[float, float]:
    """Store rows/s with and without the roll-up, one batch of each in turn."""
    with_time = without_time = 0.0
    clock = time.perf_counter
    with (
        SQLiteStore(folder / "with-rollup.db") as with_rollup,
        SQLiteStore(folder / "without-rollup.db", rollup=False) as without_rollup,
    ):
        for k in range(0, len(readings), batch):
            started = clock()
            without_rollup.append(readings[k : k + batch])
            without_time += clock() - started
            started = clock()
            with_rollup.append(readings[k : k + batch])
            with_time += clock() - started
        if with_rollup.verify().rollup_drift is not None:
            raise RuntimeError("the benchmark's roll-up does not equal its readings")
    return len(readings) / with_time, len(readings) / without_time


def measure(rows: int = 200_000, batch: int = 1000, repeat: int = 3) -> dict[str, float]:
    """Raw and store ingest rates (rows/s) measured together: ``repeat`` interleaved runs on
    fresh files, the run with the median ratio reported."""
    readings = make_readings(rows)
    prepared = raw_tuples(readings, batch)
    runs: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory(prefix="coldwatch-bench-") as tmp:
        folder = Path(tmp)
        for n in range(repeat):
            runs.append(
                interleaved(
                    folder / f"raw-{n}.db", folder / f"store-{n}.db", readings, prepared, batch
                )
            )
        per_row = raw_per_row_commit(folder / "per-row.db", prepared[:PER_ROW_COMMIT_ROWS])
        with_rollup, without_rollup = rollup_cost(folder, readings, batch)
    runs.sort(key=lambda run: run[1] / run[0])
    raw, stored = runs[len(runs) // 2]
    return {
        "rows": float(rows),
        "batch": float(batch),
        "raw_rows_per_s": round(raw, 1),
        "coldwatch_rows_per_s": round(stored, 1),
        "store_ingest_ratio": round(stored / raw, 3),
        "store_ingest_ratio_min": round(runs[0][1] / runs[0][0], 3),
        "store_ingest_ratio_max": round(runs[-1][1] / runs[-1][0], 3),
        "raw_per_row_commit_rows_per_s": round(per_row, 1),
        "store_with_rollup_rows_per_s": round(with_rollup, 1),
        "store_without_rollup_rows_per_s": round(without_rollup, 1),
        "rollup_cost_ratio": round(with_rollup / without_rollup, 3),
        "rollup_us_per_batch": round((1 / with_rollup - 1 / without_rollup) * batch * 1e6, 1),
    }


if __name__ == "__main__":
    print(json.dumps(measure()))
