"""What one password check costs with coldwatch's argon2id parameters
(:mod:`monitor.identity.passwords`: 64 MiB, 2 passes, one lane), and how many checks a second
the two-thread pool gives when sign-ins arrive at once.

    python -m bench.bench_argon2            # prints one JSON line
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time

from monitor.identity.passwords import Hasher

ROUNDS = 15
BURST = 8


async def _burst(hasher: Hasher, encoded: str) -> float:
    start = time.perf_counter()
    await asyncio.gather(*(hasher.verify(encoded, "a long enough password") for _ in range(BURST)))
    return time.perf_counter() - start


def measure() -> dict[str, float]:
    hasher = Hasher()
    try:
        encoded = hasher.hash_sync("a long enough password")
        times = []
        for _ in range(ROUNDS):
            start = time.perf_counter()
            hasher.verify_sync(encoded, "a long enough password")
            times.append(time.perf_counter() - start)
        burst = asyncio.run(_burst(hasher, encoded))
    finally:
        hasher.close()
    return {
        "argon2_verify_median_ms": round(statistics.median(times) * 1000, 1),
        "argon2_verify_max_ms": round(max(times) * 1000, 1),
        "argon2_burst_checks_per_s": round(BURST / burst, 1),
    }


if __name__ == "__main__":
    print(json.dumps(measure()))
