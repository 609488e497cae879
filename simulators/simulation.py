"""A running set of simulated devices: models advanced on a clock, front ends serving them.

Time: every ``tick`` clock seconds each model is advanced by the clock time that passed
times ``speed`` (60: one simulated hour per real minute). The clock is injectable
(:mod:`monitor.core.clock`), so a test on a ``FakeClock`` drives model time exactly;
:meth:`Simulation.advance` fast-forwards every model at once, whatever the clock.

This object is also the Python control API: :meth:`set_fault`, :meth:`advance`,
:meth:`set_speed`, :meth:`status`. The HTTP control endpoint (:mod:`simulators.control`)
only calls these.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from types import TracebackType
from typing import Any

from monitor.core.clock import Clock, SystemClock
from simulators.config import SimConfig
from simulators.device import SimDevice
from simulators.frontends import Environment, FrontEnd, build_frontend
from simulators.params import build_model

log = logging.getLogger(__name__)


class Simulation:
    def __init__(
        self,
        config: SimConfig,
        *,
        clock: Clock | None = None,
        run_dir: Path | None = None,
        speed: float | None = None,
        broker: tuple[str, int] | None = None,
        run_models: bool = True,
    ) -> None:
        """``run_dir``: where relative pty links go (the configuration's folder);
        ``broker`` overrides the configuration's MQTT broker; ``run_models=False`` leaves
        model time to :meth:`advance` alone."""
        self.config = config
        self.clock: Clock = clock or SystemClock()
        self.speed = float(speed if speed is not None else config.speed)
        self.tick = config.tick
        self.run_models = run_models
        host, port = broker or (config.mqtt.host, config.mqtt.port)
        env = Environment(self.clock, config.host, run_dir or Path.cwd(), host, port)
        self.devices: dict[str, SimDevice] = {}
        self.frontends: dict[str, FrontEnd] = {}
        for dev in config.devices:
            model = build_model(dev.model, dev.params, seed=dev.seed, step_s=dev.step)
            for fault in dev.faults:
                model.set_fault(fault)
            device = SimDevice(dev.id, model, dev.name)
            self.devices[dev.id] = device
            self.frontends[dev.id] = build_frontend(device, env, dev.frontend)
        self._ticker: asyncio.Task[None] | None = None
        self._started: list[FrontEnd] = []

    # --- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Open every front end (free ports are picked now), then start model time."""
        try:
            for frontend in self.frontends.values():
                await frontend.start()
                self._started.append(frontend)
        except BaseException:
            await self.stop()
            raise
        if self.run_models:
            self._ticker = asyncio.create_task(self._tick(), name="sim-ticker")

    async def stop(self) -> None:
        ticker, self._ticker = self._ticker, None
        if ticker is not None:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
        while self._started:
            frontend = self._started.pop()
            try:
                await frontend.stop()
            except Exception:  # stopping one must not leave the others open
                log.exception("stopping the front end of %s failed", frontend.device.id)

    async def __aenter__(self) -> Simulation:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def _tick(self) -> None:
        clock = self.clock
        last = due = clock.monotonic()
        while True:
            due += self.tick
            now = clock.monotonic()
            if due < now - self.tick:
                due = now  # held up: catch up in one step rather than a burst
            await clock.sleep_until(due)
            now = clock.monotonic()
            elapsed, last = now - last, now
            try:
                self.advance(elapsed * self.speed)
            except Exception:  # a model bug must not stop time for every other device
                log.exception("advancing the models failed")

    # --- control API ------------------------------------------------------------------------

    def device(self, device_id: str) -> SimDevice:
        try:
            return self.devices[device_id]
        except KeyError:
            known = ", ".join(self.devices)
            raise ValueError(f"no simulated device '{device_id}'; devices: {known}") from None

    def set_fault(self, device_id: str, fault: str, active: bool = True) -> None:
        """Start (``active``) or end a fault. ValueError names what is valid."""
        self.device(device_id).set_fault(fault, active)
        log.info("%s: fault %s %s", device_id, fault, "set" if active else "cleared")

    def clear_fault(self, device_id: str, fault: str) -> None:
        self.set_fault(device_id, fault, active=False)

    def advance(self, simulated_s: float) -> None:
        """Fast-forward every model by ``simulated_s`` seconds of simulated time."""
        if simulated_s < 0:
            raise ValueError("cannot advance by a negative time")
        for device in self.devices.values():
            device.advance(simulated_s)

    def set_speed(self, speed: float) -> None:
        if not 0 < speed <= 100_000:
            raise ValueError("speed must be more than 0 and at most 100000")
        self.speed = float(speed)

    def status(self) -> dict[str, Any]:
        return {
            "speed": self.speed,
            "devices": [
                {**dev.status(), "frontend": self.frontends[dev.id].describe()}
                for dev in self.devices.values()
            ],
        }
