"""Running a simulation as a service: its control endpoint, its state file, and the stop.

Shared by ``coldwatch sim`` and ``coldwatch demo``: start the simulators, open the control
endpoint, write the state file that ``coldwatch sim fault -c FILE`` finds, and undo all of
it on the way out, whatever happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator
from pathlib import Path

from simulators.control import ControlServer
from simulators.control_client import write_state
from simulators.simulation import Simulation


@contextlib.asynccontextmanager
async def serving(
    sim: Simulation, *, control_port: int, state_file: Path | None, config: Path | None
) -> AsyncIterator[ControlServer]:
    """The simulation started and controllable; stopped and cleaned up at the end."""
    control = ControlServer(sim, sim.config.host, control_port)
    await sim.start()
    try:
        await control.start()
        if state_file is not None:
            write_state(state_file, (control.host, control.port), config or "")
        yield control
    finally:
        if state_file is not None:
            _remove(state_file)
        await control.stop()
        await sim.stop()


async def until_stopped(seconds: float | None) -> None:
    """Return on SIGINT/SIGTERM, or after ``seconds`` if given."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)
