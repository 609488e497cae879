"""Step to page: how long after a value steps past a limit with a 10 s on-delay the first page
goes out, through the real daemon (``coldwatch run``) polling a real pymodbus server at 1 Hz.

Each trial steps one freezer's register past its high limit at a random phase of the poll
(one freezer per trial, so no alarm recurs or chatters, and flood mode is set out of reach),
then watches the outbox file for the page. From the store afterwards: the first reading past
the limit (t0, where the on-delay starts) and the raise. Reported per trial and as medians:

- ``poll_s``: step -> t0 (the poll phase: 0 ... 1 s);
- ``past_delay_ms``: raise - (t0 + on-delay), what the engine adds to the on-delay (on the
  record: when the alarm history says it was raised);
- ``recorded_ms``: raise -> when the engine recorded it (how late its timer woke, on the
  wall clock);
- ``pipeline_ms``: raise -> page line in the outbox (that wake-up, escalation, notification
  log, outbox);
- ``step_to_page_s``: the whole.

``python -m bench.bench_latency [trials]``; JSON on the last line.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from bench.bench_poll import free_port
from monitor.app.config import load
from monitor.core.model import Quality
from monitor.store.factory import open_store

BASE = 0x100
ON_DELAY = 10.0
LIMIT = -65.0
COLD, WARM = -800, -600  # tenths of a degree: -80.0 C, then -60.0 C
POLL = 1.0


def _word(tenths: int) -> int:
    return tenths & 0xFFFF


def make_config(folder: Path, port: int, trials: int) -> Path:
    equipment = [
        {
            "id": f"fr{i}",
            "kind": "other",
            "channels": [
                {
                    "id": "temp",
                    "quantity": "temperature",
                    "unit": "C",
                    "source": {
                        "device": "dev",
                        "register": "holding",
                        "address": BASE + i,
                        "type": "int16",
                        "scale": 0.1,
                    },
                }
            ],
        }
        for i in range(trials)
    ]
    rules = {
        f"fr{i}": {
            "rules": {
                "warm": {"condition": "limit", "channel": "temp", "high": LIMIT, "on_delay": "10s"}
            }
        }
        for i in range(trials)
    }
    data: dict[str, Any] = {
        "site": {"id": "bench", "name": "latency bench"},
        "store": {"path": str(folder / "cw.db")},
        "devices": [
            {
                "id": "dev",
                "driver": "modbus",
                "interval": POLL,
                "timeout": 0.9,
                "settings": {
                    "transport": "tcp",
                    "host": "127.0.0.1",
                    "port": port,
                    "request_timeout": 0.45,
                },
            }
        ],
        "locations": [{"id": "room", "equipment": equipment}],
        "alarms": {"equipment": rules, "flood": {"start_above": 1000, "end_below": 500}},
        "notifiers": {
            "outbox": {"type": "outbox", "path": str(folder / "outbox.jsonl"), "stderr": False}
        },
        "people": [{"id": "op", "name": "Bench operator", "channels": ["outbox"]}],
        "escalation": {
            "policies": {
                "bench": {
                    "name": "bench",
                    "tiers": [{"notify": ["person:op"], "wait": "10m"}],
                    "repeat": 0,
                }
            },
            "default_policy": "bench",
        },
    }
    path = folder / "coldwatch.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


async def _server(port: int, trials: int) -> ModbusTcpServer:
    holding = [SimData(BASE, values=[_word(COLD)] * trials, datatype=DataType.REGISTERS)]
    bits = [SimData(0xFFF0, values=[False] * 16, datatype=DataType.BITS)]
    unused = [SimData(0xFFFF, count=1, datatype=DataType.INVALID)]
    server = ModbusTcpServer(
        [SimDevice(id=1, simdata=(bits, bits, holding, unused))], address=("127.0.0.1", port)
    )
    await server.serve_forever(background=True)
    return server


def _pages(outbox: Path) -> dict[str, float]:
    """Equipment name -> when its first ``raised`` page was seen in the outbox."""
    seen: dict[str, float] = {}
    if outbox.exists():
        for line in outbox.read_text().splitlines():
            if line.strip():
                note = json.loads(line)["notification"]
                if note["kind"] == "raised":
                    seen.setdefault(note["equipment"], time.time())
    return seen


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _start_daemon(config: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "monitor.app.cli", "run", "-c", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


async def _wait_page(outbox: Path, equipment: str, timeout: float) -> float:
    """Wall time the page for ``equipment`` appeared, to about a millisecond."""
    deadline = time.monotonic() + timeout
    size = -1
    while time.monotonic() < deadline:
        now = time.time()
        current = _size(outbox)
        if current != size:
            size = current
            if equipment in _pages(outbox):
                return now
        await asyncio.sleep(0.001)
    raise TimeoutError(f"no page for {equipment} within {timeout:g} s")


async def run(trials: int) -> dict[str, Any]:
    port = free_port()
    server = await _server(port, trials)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        config = make_config(folder, port, trials)
        outbox = folder / "outbox.jsonl"
        daemon = _start_daemon(config)
        steps: list[tuple[str, float, float]] = []
        try:
            await asyncio.sleep(5.0)  # start, connect, a few cold readings of every freezer
            for i in range(trials):
                await asyncio.sleep(random.uniform(0.0, POLL))
                error = await server.context.async_setValues(1, 16, BASE + i, [_word(WARM)])
                stepped = time.time()
                if error:
                    raise RuntimeError(f"cannot write the step: {error!r}")
                paged = await _wait_page(outbox, f"fr{i}", ON_DELAY + 10.0)
                steps.append((f"fr{i}", stepped, paged))
        finally:
            daemon.terminate()
            daemon.wait(30)
            await server.shutdown()  # type: ignore[no-untyped-call]
        return _figures(config, folder, steps)


def _figures(config: Path, folder: Path, steps: list[tuple[str, float, float]]) -> dict[str, Any]:
    loaded = load(config)
    store = open_store(loaded.config.store, folder)
    rows: list[dict[str, float]] = []
    try:
        for equipment, stepped, paged in steps:
            key = f"{equipment}.temp/warm"
            record = next(r for r in store.alarm_records(key=key) if r.action == "raised")
            raised = record.at
            t0 = next(
                r.ts
                for r in store.readings(f"{equipment}.temp")
                if r.quality is Quality.GOOD
                and isinstance(r.value, float)
                and r.value > LIMIT
                and r.ts.timestamp() >= stepped - 0.01
            )
            rows.append(
                {
                    "poll_s": t0.timestamp() - stepped,
                    "past_delay_ms": ((raised - t0).total_seconds() - ON_DELAY) * 1e3,
                    "recorded_ms": (record.recorded_at - raised).total_seconds() * 1e3,
                    "pipeline_ms": (paged - raised.timestamp()) * 1e3,
                    "step_to_page_s": paged - stepped,
                }
            )
    finally:
        store.close()
    out: dict[str, Any] = {"trials": len(rows), "on_delay_s": ON_DELAY, "poll_s": POLL}
    for name in ("poll_s", "past_delay_ms", "recorded_ms", "pipeline_ms", "step_to_page_s"):
        values = [r[name] for r in rows]
        out[f"{name}_median"] = round(statistics.median(values), 4)
        out[f"{name}_max"] = round(max(values), 4)
    out["rows"] = [{k: round(v, 4) for k, v in r.items()} for r in rows]
    out["measured_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    return out


def main() -> int:
    trials = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    result = asyncio.run(run(trials))
    for row in result["rows"]:
        print(json.dumps(row), file=sys.stderr)
    result.pop("rows")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
