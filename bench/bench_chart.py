"""Equipment chart data: how long ``/api/equipment/{id}/chart`` takes to assemble its data
(store reads, series with gaps, limits from the configuration versions, alarm periods, JSON)
for one channel at 1 Hz, with 30 days of 1 Hz readings for 10 channels in the store
(25.9 M readings). Targets: 24 h < 100 ms, 30 d < 200 ms (via the roll-up).

For comparison, the raw min/max query over the same 30 days of one channel, and the cost of
the roll-up of the whole store (``SQLiteStore.complete_rollup``, as after the migration).

The store is built once with plain ``INSERT``s into the readings table (the chain is not what
is measured: a chart never reads it) and kept at ``--store PATH`` (by default in the system's
temporary folder) for later runs; building it takes minutes and 2.3 GB.

    python -m bench.bench_chart [--store PATH]   # one JSON line
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from monitor.app.config import load
from monitor.app.web.equipment import chart, find_unit
from monitor.store.canonical import to_us
from monitor.store.sqlite import SQLiteStore
from monitor.store.sqlite_schema import connect

REPO = Path(__file__).resolve().parents[1]

CHANNELS = 10
DAYS = 30
EQUIPMENT = "freezer-07"
MEASURED = "freezer-07.cabinet_temp"
END = datetime(2026, 3, 31, tzinfo=UTC)
START = END - timedelta(days=DAYS)
_INSERT = (
    "INSERT INTO readings (channel, ts, value, quality, flags, detail, batch) "
    "VALUES (?, ?, ?, 'good', 0, NULL, 1)"
)


def record_version(store: SQLiteStore, at: datetime, high: float) -> None:
    """The example site's configuration (freezer-07 and its rules), its warm limit at ``high``."""
    data = load(REPO / "config" / "alarms-example.yaml", secrets=False).effective
    data["alarms"]["equipment"][EQUIPMENT]["rules"]["warm"]["high"] = high
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    store.record_config(text, hashlib.sha256(text.encode()).hexdigest(), [], at, "bench")


def channel_ids() -> list[str]:
    return [MEASURED] + [f"bench-{i:02d}.temp" for i in range(1, CHANNELS)]


def build(path: Path) -> float:
    """The store: configuration versions, 30 days of 1 Hz readings of 10 channels, the
    roll-up made from them; the seconds the roll-up took."""
    with SQLiteStore(path) as store:
        record_version(store, START - timedelta(days=1), high=-68.0)
        record_version(store, START + timedelta(days=15), high=-65.0)
    conn = connect(path)
    try:
        start_us, second = to_us(START), 1_000_000
        for day in range(DAYS):
            conn.execute("BEGIN IMMEDIATE")
            for channel in channel_ids():
                base = start_us + day * 86_400 * second
                conn.executemany(
                    _INSERT,
                    (
                        (channel, base + s * second, -80.0 + math.sin(s / 600) * 2)
                        for s in range(86_400)
                    ),
                )
            conn.execute("COMMIT")
    finally:
        conn.close()
    started = time.perf_counter()
    with SQLiteStore(path) as store:  # opening completes the roll-up
        pass
    return time.perf_counter() - started


def timed(store: SQLiteStore, days: float, repeat: int) -> tuple[float, dict[str, Any]]:
    """Median milliseconds of one chart's data for the last ``days``, JSON included."""
    found = find_unit(store, EQUIPMENT)
    times, body = [], {}
    for _ in range(repeat):
        started = time.perf_counter()
        body = chart(store, found, END - timedelta(days=days), END)
        json.dumps(body)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000, body


def raw_min_max(store: SQLiteStore) -> float:
    started = time.perf_counter()
    store._query(
        "SELECT min(value), max(value), count(*) FROM readings WHERE channel = ? AND ts >= ? "
        "AND ts < ?",
        (MEASURED, to_us(START), to_us(END)),
    )
    return (time.perf_counter() - started) * 1000


def measure(path: Path, repeat: int = 5) -> dict[str, Any]:
    rollup_s = None
    if not path.exists():
        rollup_s = build(path)
    with SQLiteStore(path) as store:
        rows = store._query("SELECT count(*) FROM readings", ())[0][0]
        day_ms, day = timed(store, 1, repeat)
        week_ms, _ = timed(store, 7, repeat)
        month_ms, month = timed(store, 30, repeat)
        hour_ms, hour = timed(store, 1 / 24, repeat)
        raw_ms = raw_min_max(store)
    points = {name: len(b["channels"][0]["points"]["t"]) for name, b in
              (("1h", hour), ("24h", day), ("30d", month))}  # fmt: skip
    return {
        "readings_in_store": rows,
        "chart_1h_ms": round(hour_ms, 1),
        "chart_24h_ms": round(day_ms, 1),
        "chart_7d_ms": round(week_ms, 1),
        "chart_30d_ms": round(month_ms, 1),
        "points_per_channel": points,
        "resolution": {
            "1h": hour["resolution"],
            "24h": day["resolution"],
            "30d": month["resolution"],
        },
        "raw_min_max_30d_one_channel_ms": round(raw_ms, 1),
        "rollup_build_s": None if rollup_s is None else round(rollup_s, 1),
        "target_24h_ms": 100,
        "target_30d_ms": 200,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(tempfile.gettempdir()) / "coldwatch-bench-chart.db"
    parser.add_argument("--store", type=Path, default=default)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(json.dumps(measure(args.store, args.repeat)))


if __name__ == "__main__":
    main()
