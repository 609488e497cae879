"""The live dashboard's cost: 1,000 channels updating at 1 Hz, 10 SSE clients.

In one process, as in the daemon: the live values fed 1,000 readings a second (what the
pipeline would give them; polling itself is measured by bench_poll), and the console serving
``/api/events/live`` to 10 clients that run in another process (so that only the server's CPU
is counted). The web part's share is the CPU of the process with the clients minus that
without them (feeding the live values only), over the same wall time.

    python -m bench.bench_sse            # JSON on the last line
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from monitor.app.web.app import create_app
from monitor.app.web.config import WebConfig
from monitor.app.web.context import WebContext
from monitor.app.web.server import WebServer, listen
from monitor.config.sections import SiteConfig
from monitor.core.clock import SystemClock
from monitor.core.metrics import Metrics
from monitor.core.model import Reading
from monitor.identity.roles import Role
from monitor.runtime.live import LiveValues
from monitor.store.sqlite import SQLiteStore
from monitor.store.writer import StoreWriter

CHANNELS = 1000
PER_UNIT = 4
CLIENTS = 10
SECONDS = 20.0


def site() -> SiteConfig:
    units = CHANNELS // PER_UNIT
    return SiteConfig.model_validate(
        {
            "site": {"id": "bench", "name": "Bench"},
            "devices": [{"id": "plc", "driver": "modbus", "interval": 1}],
            "locations": [
                {
                    "id": f"room-{r}",
                    "equipment": [
                        {
                            "id": f"unit-{r}-{u}",
                            "kind": "ult_freezer",
                            "channels": [
                                {
                                    "id": f"t{c}",
                                    "quantity": "temperature",
                                    "unit": "C",
                                    "decimals": 1,
                                    "source": {"device": "plc"},
                                }
                                for c in range(PER_UNIT)
                            ],
                        }
                        for u in range(units // 10)
                    ],
                }
                for r in range(10)
            ],
        }
    )


async def loop_lag(into: list[float], seconds: float, step: float = 0.01) -> None:
    """How late a 10 ms sleep wakes: what a poll due at that moment would wait."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while loop.time() < end:
        due = loop.time() + step
        await asyncio.sleep(step)
        into.append(loop.time() - due)


def p99_ms(values: list[float]) -> float:
    ordered = sorted(values)
    return round(ordered[int(len(ordered) * 0.99)] * 1000, 2) if ordered else 0.0


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def feed_readings(live: LiveValues, channels: list[str], seconds: float) -> None:
    """Every channel once a second, each second's readings spread over it as polls are."""
    clock = SystemClock()
    start = clock.monotonic()
    slices = 10
    per_slice = len(channels) // slices
    n = 0
    while clock.monotonic() - start < seconds:
        part = channels[(n % slices) * per_slice : (n % slices + 1) * per_slice]
        now = clock.now()
        for i, channel in enumerate(part):
            live.on_reading(Reading.good(channel, now, -80.0 + (n + i) % 7 / 10))
        n += 1
        await clock.sleep_until(start + n / slices)


async def run_clients(url: str, token: str, count: int, seconds: float) -> dict[str, int]:
    import httpx

    messages = 0
    received = 0

    async def one() -> None:
        nonlocal messages, received
        headers = {"Authorization": f"Bearer {token}"}
        async with (
            httpx.AsyncClient(base_url=url, timeout=30) as client,
            client.stream("GET", "/api/events/live", headers=headers) as stream,
        ):
            async for line in stream.aiter_lines():
                received += len(line) + 1
                if line.startswith("event: tiles"):
                    messages += 1

    tasks = [asyncio.create_task(one()) for _ in range(count)]
    await asyncio.sleep(seconds)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {"messages": messages, "bytes": received}


async def measure() -> dict[str, Any]:
    from tests.support.identity_web import api_token, console_identity
    from tests.support.ports import free_port

    config = site()
    channels = list(config.channels())
    live = LiveValues(config)
    with tempfile.TemporaryDirectory() as folder:
        settings = WebConfig(port=free_port())
        store = SQLiteStore(Path(folder) / "bench.db")
        store.open()
        clock = SystemClock()
        identity = console_identity(Path(folder) / "bench.db", clock, settings)
        token = api_token(identity.records, Role.VIEWER)
        context = WebContext(
            settings,
            "bench",
            "Bench",
            clock,
            StoreWriter(store, clock, Metrics()),
            identity=identity.service,
            site_config=config,
            live=live,
        )
        app = create_app(context)
        server = WebServer(app, listen(settings, None), context.streams)
        await server.start()
        try:
            # the readings alone, no client
            lag_base: list[float] = []
            lag_web: list[float] = []
            wall0, cpu0 = time.monotonic(), cpu()
            await asyncio.gather(
                feed_readings(live, channels, SECONDS), loop_lag(lag_base, SECONDS)
            )
            base_wall, base_cpu = time.monotonic() - wall0, cpu() - cpu0
            # the same with ten clients reading the stream in another process
            clients = await asyncio.create_subprocess_exec(
                sys.executable,
                *("-m", "bench.bench_sse", "clients", settings.local_url(), token),
                str(CLIENTS),
                str(SECONDS + 2),
                stdout=asyncio.subprocess.PIPE,
            )
            await asyncio.sleep(2.0)  # connected, first snapshot sent
            wall1, cpu1 = time.monotonic(), cpu()
            await asyncio.gather(feed_readings(live, channels, SECONDS), loop_lag(lag_web, SECONDS))
            web_wall, web_cpu = time.monotonic() - wall1, cpu() - cpu1
            out, _ = await clients.communicate()
            seen = json.loads(out.decode().strip().splitlines()[-1])
            feed = app.state.live_feed
        finally:
            await server.stop()
            identity.close()
            store.close()
    # the cost of one reading into the live values
    n = 200_000
    reading = Reading.good(channels[0], clock.now(), -80.0)
    start = time.perf_counter()
    for _ in range(n):
        live.on_reading(reading)
    per_reading_us = (time.perf_counter() - start) / n * 1e6
    base_share = base_cpu / base_wall
    with_share = web_cpu / web_wall
    return {
        "sse_channels": CHANNELS,
        "sse_clients": CLIENTS,
        "sse_seconds": SECONDS,
        "sse_cpu_share_without_clients": round(base_share, 4),
        "sse_cpu_share_with_clients": round(with_share, 4),
        "sse_web_cpu_share_of_one_core": round(with_share - base_share, 4),
        "sse_messages_per_client_per_s": round(seen["messages"] / CLIENTS / (SECONDS + 2), 2),
        "sse_bytes_per_client_per_s": round(seen["bytes"] / CLIENTS / (SECONDS + 2)),
        "sse_dropped_clients": feed.dropped,
        "loop_lag_p99_ms_without_clients": p99_ms(lag_base),
        "loop_lag_p99_ms_with_clients": p99_ms(lag_web),
        "loop_lag_max_ms_with_clients": round(max(lag_web, default=0.0) * 1000, 2),
        "live_on_reading_us": round(per_reading_us, 3),
    }


def main(argv: list[str]) -> int:
    if argv[:1] == ["clients"]:
        url, token, count, seconds = argv[1], argv[2], int(argv[3]), float(argv[4])
        print(json.dumps(asyncio.run(run_clients(url, token, count, seconds))))
        return 0
    result = asyncio.run(measure())
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
