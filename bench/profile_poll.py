"""A fixed number of paced Modbus polls, coldwatch's or a bare pymodbus loop's, for profilers.

Wall and CPU time on a shared machine are noisy; instruction counts are not. Run each side
twice under callgrind with a different number of polls: the difference, divided by the
difference in polls, is the cost of one poll without the start-up (imports, config load)::

    valgrind --tool=callgrind --callgrind-out-file=/dev/null \\
        .venv/bin/python -m bench.profile_poll ours 100   # then 500, then bare 100 / 500

``bench/callgrind_poll.sh`` does the counting. Where the bytecodes go, exactly (every
opcode the interpreter runs during the counted polls, by function, per poll)::

    .venv/bin/python -m bench.profile_poll ours 200 --opcodes --interval 0.5

``--cprofile`` prints cProfile's table instead (calls per function; its times are skewed by
its own overhead on small functions).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import cProfile
import logging
import pstats
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType
from typing import Any, Protocol

from pymodbus.client import AsyncModbusTcpClient

from bench.bench_poll import Counter, bare_decode, make_config, server_process
from bench.modbus_server import BASE, IMAGE
from monitor.app.config import load
from monitor.core.clock import SystemClock
from monitor.core.metrics import Metrics
from monitor.core.model import Quality, Reading
from monitor.runtime.coordinator import Coordinator, stagger_offset
from monitor.runtime.pipeline import Pipeline

WARM_UP = 20  # polls before counting starts: connections open, caches filled


class Profiler(Protocol):
    def enable(self) -> None: ...

    def disable(self) -> None: ...


class Opcodes:
    """Counts every bytecode the interpreter runs while enabled, by function: deterministic,
    unlike times (a tracing hook per opcode: slow, so run it with a longer --interval)."""

    def __init__(self) -> None:
        self.counts: collections.Counter[str] = collections.Counter()

    def _trace(self, frame: FrameType, event: str, arg: Any) -> Any:
        frame.f_trace_opcodes = True
        code = frame.f_code
        where = code.co_filename.split("site-packages/")[-1].split("lib/python3.11/")[-1]
        name = f"{where}:{code.co_name}"
        counts = self.counts

        def each(frame: FrameType, event: str, arg: Any) -> Any:
            if event == "opcode":
                counts[name] += 1
            return each

        return each

    def enable(self) -> None:
        sys.settrace(self._trace)

    def disable(self) -> None:
        sys.settrace(None)

    def report(self, polls: int, top: int = 60) -> None:
        root = str(Path(__file__).resolve().parent.parent) + "/"
        print(f"{sum(self.counts.values()) / polls:9.0f}  bytecodes per poll in all")
        for name, count in self.counts.most_common(top):
            print(f"{count / polls:9.1f}  {name.replace(root, '')}")


class Milestones(Counter):
    """Counts readings like bench_poll's consumer and wakes the profiler at a given count
    (not a polling loop: its wake-ups would be counted as coldwatch's)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels
        self.seen = 0
        self.target = -1
        self.reached: asyncio.Future[None] = asyncio.Future()

    def until(self, polls: int) -> asyncio.Future[None]:
        self.target = self.seen + polls * self.channels
        self.reached = asyncio.get_running_loop().create_future()
        return self.reached

    def on_reading(self, reading: Reading) -> None:
        if reading.quality is Quality.GOOD:
            self.good += 1
        else:
            self.bad += 1
        self.seen += 1
        if self.seen == self.target:
            self.reached.set_result(None)


async def ours(port: int, devices: int, interval: float, polls: int, prof: Profiler | None) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        loaded = load(make_config(Path(tmp), port, devices, interval))
    metrics = Metrics()
    pipeline = Pipeline(metrics)
    counter = Milestones(channels=4)  # bench_poll's config: four channels per device
    pipeline.inline.append(counter)
    coordinator = Coordinator(loaded, pipeline, SystemClock(), metrics)
    await coordinator.start()
    await counter.until(WARM_UP)
    if prof:
        prof.enable()
    await counter.until(polls)
    if prof:
        prof.disable()
    await coordinator.stop()
    return counter.bad


async def bare(port: int, devices: int, interval: float, polls: int, prof: Profiler | None) -> int:
    """bench_poll's bare loop, stopped after a number of polls."""
    clients = [
        AsyncModbusTcpClient("127.0.0.1", port=port, retries=0, reconnect_delay=0)
        for _ in range(devices)
    ]
    for c in clients:
        await c.connect()
    count = [0]
    target = [WARM_UP + polls]

    async def loop(i: int, client: AsyncModbusTcpClient) -> None:
        start = time.monotonic() + stagger_offset(f"dev-{i:04d}", interval)
        n = 0
        while count[0] < target[0]:
            due = start + n * interval
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            n += 1
            rr = await client.read_holding_registers(BASE, count=len(IMAGE), device_id=1)
            assert bare_decode(client, rr.registers)
            count[0] += 1
            if count[0] == WARM_UP and prof:
                prof.enable()

    await asyncio.gather(*(loop(i, c) for i, c in enumerate(clients)))
    if prof:
        prof.disable()
    for c in clients:
        c.close()
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("side", choices=["ours", "bare"])
    parser.add_argument("polls", type=int)
    parser.add_argument("--devices", type=int, default=4)
    parser.add_argument("--interval", type=float, default=0.2)
    parser.add_argument("--cprofile", action="store_true")
    parser.add_argument("--cprofile-out", help="also save the profile (pstats) to this file")
    parser.add_argument("--opcodes", action="store_true", help="bytecodes per poll, by function")
    args = parser.parse_args()
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    prof: cProfile.Profile | Opcodes | None = None
    if args.opcodes:
        prof = Opcodes()
    elif args.cprofile:
        prof = cProfile.Profile()
    run = ours if args.side == "ours" else bare
    with server_process() as port:
        bad = asyncio.run(run(port, args.devices, args.interval, args.polls, prof))
    if bad:
        print(f"{bad} bad readings: the profile is not of the good path")
    if isinstance(prof, Opcodes):
        prof.report(args.polls)
    elif prof:
        if args.cprofile_out:
            prof.dump_stats(args.cprofile_out)
        pstats.Stats(prof).sort_stats("tottime").print_stats(30)


if __name__ == "__main__":
    main()
