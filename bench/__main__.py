"""``make bench``: every benchmark in one run, each beside the bare library; JSON at the end."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys

from bench import bench_poll, bench_sse, bench_store


def main() -> int:
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    print("store ingest (200k readings, batches of 1,000) ...", file=sys.stderr)
    store = bench_store.measure()
    print(json.dumps(store), file=sys.stderr)
    print("paced Modbus polls: coldwatch beside a bare pymodbus loop ...", file=sys.stderr)
    poll = asyncio.run(bench_poll.measure_cpu())
    print(json.dumps(poll), file=sys.stderr)
    print("1,000 devices at 1 Hz (in a fresh process) ...", file=sys.stderr)
    out = subprocess.run(
        [sys.executable, "-m", "bench.bench_poll", "lateness"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    poll.update(json.loads(out.strip().splitlines()[-1]))
    print(json.dumps(poll), file=sys.stderr)
    print("live dashboard: 1,000 channels at 1 Hz, 10 SSE clients ...", file=sys.stderr)
    sse = asyncio.run(bench_sse.measure())
    print(json.dumps(sse), file=sys.stderr)
    result = {
        "store_ingest_ratio": store["store_ingest_ratio"],
        "poll_cpu_ratio": poll["poll_cpu_ratio"],
        "poll_lateness_p99_ms": poll["poll_lateness_p99_ms"],
        **{f"store_{k}": v for k, v in store.items() if k != "store_ingest_ratio"},
        **{k: v for k, v in poll.items() if k not in ("poll_cpu_ratio", "poll_lateness_p99_ms")},
        **sse,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
