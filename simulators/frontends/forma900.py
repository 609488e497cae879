"""A Forma-900-like freezer that pushes a status frame every ``interval`` without being asked.

Frame: ``NUL - XXX SP C SP <messages> SP LF CR EOT SP`` with the temperature as a whole
number, ``T_ERR`` in its place while the probe is broken, and the messages OVERTEMP (above
the warm alarm set point), UNDERTEMP (below the cold one) and PWRFAIL, separated by spaces.
Its length varies, so coldwatch frames it on EOT. Under ``comm_drop`` the line goes silent.
Frames are timed on the simulation's clock (clock seconds, not simulated ones).
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

from simulators.bindings import BROKEN, PRIMARY, Binding, Role, number
from simulators.config import Forma900FrontEnd
from simulators.device import SimDevice
from simulators.frontends.base import Environment, FrontEnd, Reader, channel
from simulators.frontends.lines import Line, PtyLine, SocketLine

ROLES = (
    Role("temperature", (PRIMARY,)),
    Role("power_fail", ("power_fail",)),
    Role("warm_limit", ("warm_alarm_setpoint",)),
    Role("cold_limit", ("cold_alarm_setpoint",)),
)

MESSAGES = ("UNDERTEMP", "OVERTEMP", "PWRFAIL", "CNTRLFAIL", "Er07", "HSHX FAIL", "HOT COND")


class _Deaf:
    """A push device ignores what it is sent."""

    def feed(self, data: bytes) -> bytes:
        return b""


class Forma900(FrontEnd):
    type = "forma900"

    def __init__(self, device: SimDevice, env: Environment, settings: Forma900FrontEnd) -> None:
        super().__init__(device, env)
        self.settings = settings
        self.binding = Binding(device, ROLES, settings.bind)
        self.line: Line
        if settings.line == "socket":
            self.line = SocketLine(_Deaf, env.host, settings.port)
        else:
            link = env.run_dir / settings.link if settings.link else None
            self.line = PtyLine(_Deaf, Path(link) if link else None)
        self.frames_sent = 0
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def roles(cls, settings: Any) -> tuple[Role, ...]:
        return ROLES

    def frame(self) -> bytes:
        """The frame the freezer would send now."""
        values = self.binding.read()
        temp = values.get("temperature")
        t = None if temp is BROKEN else number(temp)
        messages = []
        if t is not None:
            warm, cold = number(values.get("warm_limit")), number(values.get("cold_limit"))
            if cold is not None and t < cold:
                messages.append("UNDERTEMP")
            if warm is not None and t > warm:
                messages.append("OVERTEMP")
        if number(values.get("power_fail")):
            messages.append("PWRFAIL")
        shown = "T_ERR" if t is None else f"{round(t):d}"
        return b"\x00- " + f"{shown} C {' '.join(messages)} ".encode("latin-1") + b"\n\r\x04 "

    async def start(self) -> None:
        await self.line.start()
        self._task = asyncio.create_task(self._push(), name=f"sim-forma900-{self.device.id}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.line.stop()

    async def _push(self) -> None:
        clock, interval = self.env.clock, self.settings.interval
        due = clock.monotonic()
        while True:
            due += interval
            if due < clock.monotonic() - interval:
                due = clock.monotonic()  # held up for long: do not send a burst
            await clock.sleep_until(due)
            if self.device.answering:
                self.line.broadcast(self.frame())
                self.frames_sent += 1

    def describe(self) -> str:
        return (
            f"serial push (Forma-900-like frames every {self.settings.interval:g} s) "
            f"on {self.line.port_name}"
        )

    def coldwatch(self, interval: float) -> Reader:
        push = self.settings.interval
        stale_after = round(2.5 * push, 3)
        device = {
            "id": self.device.id,
            "driver": "serial",
            "interval": push,
            "timeout": round(0.8 * push, 3),
            "backoff": {"initial": push, "max": max(push, 5.0)},
            "settings": {
                "mode": "push",
                "port": self.line.port_name,
                "baudrate": 1200,
                "stopbits": 2,
                "receive_terminator": "\x04",
                "strip": "\x00",
                "events": [
                    {"pattern": m, "kind": m.lower().replace(" ", "_"), "suppress_repeats": True}
                    for m in ("UNDERTEMP", "OVERTEMP", "PWRFAIL")
                ],
            },
        }
        src = {"device": self.device.id}
        channels = [
            channel(
                "cabinet_temp",
                "temperature",
                "C",
                {**src, "pattern": r"-\s*(?P<value>-?\d+)\s*C", "fault_patterns": ["T_ERR"]},
                name=f"{self.binding.output('temperature')} in the pushed frame",
                stale_after=stale_after,
            )
        ]
        if self.binding.output("power_fail") is not None:
            channels.append(
                channel(
                    "power_failure",
                    "power_failure",
                    "bool",
                    {
                        **src,
                        "pattern": r"^-(?:.*(?P<value>PWRFAIL))?",
                        "map": {"PWRFAIL": 1, "": 0},
                    },
                    stale_after=stale_after,
                )
            )
        return Reader(device, channels)
