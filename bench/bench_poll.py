"""CPU per paced Modbus poll through the coordinator, beside a bare pymodbus client loop
against the same server, and poll lateness with 1,000 devices at 1 Hz.

The server runs in its own process so that only the client's CPU is measured.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml
from pymodbus.client import AsyncModbusTcpClient

from bench.modbus_server import BASE, IMAGE
from monitor.app.config import load
from monitor.core.clock import SystemClock
from monitor.core.metrics import Metrics
from monitor.core.model import Event, Quality, Reading
from monitor.runtime.coordinator import Coordinator, stagger_offset
from monitor.runtime.pipeline import Pipeline


def bare_decode(client: AsyncModbusTcpClient, regs: Sequence[int]) -> tuple[Any, ...]:
    """What a bare loop makes of one answer: the four values coldwatch's channels read."""
    dt = AsyncModbusTcpClient.DATATYPE
    return (
        client.convert_from_registers(regs[0:2], dt.INT32) * 0.1,  # type: ignore[operator]
        client.convert_from_registers(regs[2:4], dt.FLOAT32),
        client.convert_from_registers(regs[4:6], dt.FLOAT32),
        float((regs[6] >> 1) & 1),
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def server_process() -> Iterator[int]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.modbus_server", str(port)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        yield port
    finally:
        if proc.stdin:
            proc.stdin.close()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout:
            proc.stdout.close()


class Counter:
    """An inline consumer that only counts (the poll is measured, not the store)."""

    def __init__(self) -> None:
        self.good = 0
        self.bad = 0

    def on_reading(self, reading: Reading) -> None:
        if reading.quality is Quality.GOOD:
            self.good += 1
        else:
            self.bad += 1

    def on_event(self, event: Event) -> None:
        pass


def make_config(tmp: Path, port: int, devices: int, interval: float) -> Path:
    channels = [
        {
            "id": "cabinet_temp",
            "quantity": "temperature",
            "unit": "C",
            "source": {"register": "holding", "address": BASE, "type": "int32", "scale": 0.1},
        },
        {
            "id": "tc2",
            "quantity": "temperature",
            "unit": "C",
            "source": {"register": "holding", "address": BASE + 2, "type": "float32"},
        },
        {
            "id": "tc3",
            "quantity": "temperature",
            "unit": "C",
            "source": {"register": "holding", "address": BASE + 4, "type": "float32"},
        },
        {
            "id": "power_failure",
            "quantity": "power_failure",
            "unit": "bool",
            "source": {"register": "holding", "address": BASE + 6, "type": "uint16", "bit": 1},
        },
    ]
    equipment = []
    for i in range(devices):
        equipment.append(
            {
                "id": f"fr-{i:04d}",
                "kind": "ult_freezer",
                "channels": [
                    {**c, "source": {**c["source"], "device": f"dev-{i:04d}"}} for c in channels
                ],
            }
        )
    data = {
        "site": {"id": "bench", "name": "bench"},
        "store": {"path": str(tmp / "unused.db")},
        "devices": [
            {
                "id": f"dev-{i:04d}",
                "driver": "modbus",
                "interval": interval,
                "timeout": min(1.0, interval * 0.9),
                "settings": {
                    "transport": "tcp",
                    "host": "127.0.0.1",
                    "port": port,
                    "request_timeout": min(1.0, interval * 0.9) / 2,
                },
            }
            for i in range(devices)
        ],
        "locations": [{"id": "room", "equipment": equipment}],
    }
    path = tmp / "bench.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


class LatenessClock(SystemClock):
    """The system clock, recording how late each scheduled wake-up was."""

    def __init__(self) -> None:
        self.lateness: list[float] = []
        self.recording = False

    async def sleep_until(self, deadline: float) -> None:
        await super().sleep_until(deadline)
        if self.recording:
            self.lateness.append(time.monotonic() - deadline)


async def coldwatch_polls(
    port: int, devices: int, interval: float, seconds: float, clock: SystemClock | None = None
) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        loaded = load(make_config(Path(tmp), port, devices, interval))
    metrics = Metrics()
    pipeline = Pipeline(metrics)
    counter = Counter()
    pipeline.inline.append(counter)
    clock = clock or SystemClock()
    coordinator = Coordinator(loaded, pipeline, clock, metrics)
    await coordinator.start()
    await asyncio.sleep(interval * 2)  # connect and warm up
    if isinstance(clock, LatenessClock):
        clock.recording = True
    polls0 = sum(s.polls for s in coordinator.states().values())
    cpu0 = time.process_time()
    await asyncio.sleep(seconds)
    cpu = time.process_time() - cpu0
    polls = sum(s.polls for s in coordinator.states().values()) - polls0
    if isinstance(clock, LatenessClock):
        clock.recording = False
    await coordinator.stop()
    return {"polls": polls, "cpu_per_poll_us": cpu / polls * 1e6, "bad": counter.bad}


async def bare_polls(port: int, devices: int, interval: float, seconds: float) -> dict[str, float]:
    """The same work with the library alone: paced reads and the same decoding."""
    clients = [
        AsyncModbusTcpClient("127.0.0.1", port=port, retries=0, reconnect_delay=0)
        for _ in range(devices)
    ]
    for c in clients:
        await c.connect()
    count = [0]
    running = [True]

    async def loop(i: int, client: AsyncModbusTcpClient) -> None:
        start = time.monotonic() + stagger_offset(f"dev-{i:04d}", interval)
        n = 0
        while running[0]:
            due = start + n * interval
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            n += 1
            rr = await client.read_holding_registers(BASE, count=len(IMAGE), device_id=1)
            assert bare_decode(client, rr.registers)
            count[0] += 1

    tasks = [asyncio.create_task(loop(i, c)) for i, c in enumerate(clients)]
    await asyncio.sleep(interval * 2)
    count[0] = 0
    cpu0 = time.process_time()
    await asyncio.sleep(seconds)
    cpu = time.process_time() - cpu0
    polls = count[0]
    # stop by flag: cancelling a task inside pymodbus' nested wait_for can be swallowed on
    # Python 3.11, and the loop would then run on forever
    running[0] = False
    await asyncio.wait(tasks, timeout=5)
    for c in clients:
        c.close()
    return {"polls": polls, "cpu_per_poll_us": cpu / polls * 1e6}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure_cpu(
    devices: int = 50, interval: float = 0.1, seconds: float = 8.0
) -> dict[str, Any]:
    runs: dict[str, list[dict[str, float]]] = {"bare": [], "ours": []}
    for _ in range(5):  # alternate, each against a fresh server process
        with server_process() as port:
            runs["bare"].append(await bare_polls(port, devices, interval, seconds))
        with server_process() as port:
            runs["ours"].append(await coldwatch_polls(port, devices, interval, seconds))
    # medians: this machine's other load shows up as outliers in single runs
    bare_us = statistics.median(r["cpu_per_poll_us"] for r in runs["bare"])
    ours_us = statistics.median(r["cpu_per_poll_us"] for r in runs["ours"])
    return {
        "bare_cpu_per_poll_us": round(bare_us, 1),
        "coldwatch_cpu_per_poll_us": round(ours_us, 1),
        "poll_cpu_ratio": round(ours_us / bare_us, 3),
        "poll_cpu_ratios_each_run": [
            round(o["cpu_per_poll_us"] / b["cpu_per_poll_us"], 3)
            for o, b in zip(runs["ours"], runs["bare"], strict=True)
        ],
    }


async def measure_lateness(devices: int = 1000, seconds: float = 10.0) -> dict[str, Any]:
    """Every poll's lateness (actual start - due time) with ``devices`` at 1 Hz."""
    with server_process() as port:
        clock = LatenessClock()
        late = await coldwatch_polls(port, devices, 1.0, seconds, clock)
    lateness_ms = [x * 1000 for x in clock.lateness]
    return {
        "poll_lateness_devices": devices,
        "poll_lateness_samples": len(lateness_ms),
        "poll_lateness_p50_ms": round(percentile(lateness_ms, 0.5), 2),
        "poll_lateness_p99_ms": round(percentile(lateness_ms, 0.99), 2),
        "poll_lateness_max_ms": round(max(lateness_ms), 2),
        "poll_lateness_cpu_per_poll_us": round(late["cpu_per_poll_us"], 1),
        "lateness_bad_readings": late["bad"],
    }


if __name__ == "__main__":
    import json
    import logging

    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    which = sys.argv[1] if len(sys.argv) > 1 else "cpu"
    result = asyncio.run(measure_lateness() if which == "lateness" else measure_cpu())
    print(json.dumps(result))
