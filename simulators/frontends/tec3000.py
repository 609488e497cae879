"""A TEC-3000-like LN2 controller: line commands in, one answer line out.

Commands end in CR or LF; answers end in CR LF. ``CALVL?`` level (+XXX.X), ``TEMPA?`` the
temperature (the real query's name varies by model), ``FILL?`` fill valve 0/1, ``FILTIM?``
seconds the current fill has run (0 when not filling: a fill that keeps counting means the
supply is empty), ``LID?`` lid switch 0/1, ``*IDN?`` identity. Anything else, or a field
with nothing bound, answers ``?``. A broken probe answers the sentinel (-999.9); under
``comm_drop`` nothing is answered.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simulators.bindings import BROKEN, PRIMARY, Binding, FieldValue, Role, number
from simulators.config import Tec3000FrontEnd
from simulators.device import SimDevice
from simulators.frontends.base import Environment, FrontEnd, Reader, channel, poll_timing
from simulators.frontends.lines import Line, PtyLine, SocketLine

ROLES = (
    Role("level", ("level",)),
    Role("temperature", (PRIMARY,)),
    Role("fill", ("fill_valve_open",)),
    Role("fill_time", ("fill_time",)),
    Role("lid", ("lid_open", "door_open")),
)

NUMBER = r"^(?P<value>[-+]?\d+(?:\.\d+)?)$"
FLAG = r"^(?P<value>[01])$"


@dataclass(frozen=True)
class Command:
    role: str
    format: str
    channel: str
    quantity: str
    unit: str
    flag: bool = False


COMMANDS = {
    "CALVL?": Command("level", "{:+.1f}", "ln2_level", "ln2_level", "mm"),
    "TEMPA?": Command("temperature", "{:+.1f}", "temperature", "temperature", "C"),
    "FILL?": Command("fill", "{:.0f}", "fill_valve_open", "fill_valve_open", "bool", True),
    "FILTIM?": Command("fill_time", "{:.0f}", "fill_time", "other", ""),
    "LID?": Command("lid", "{:.0f}", "lid_open", "lid_open", "bool", True),
}


class Tec3000Session:
    """Answers each complete command line; partial lines wait for their end."""

    def __init__(self, answer: Callable[[str], str | None]) -> None:
        self.answer = answer
        self.buffer = bytearray()

    def feed(self, data: bytes) -> bytes:
        self.buffer += data
        out = bytearray()
        while True:
            ends = [i for i in (self.buffer.find(b"\r"), self.buffer.find(b"\n")) if i >= 0]
            if not ends:
                if len(self.buffer) > 256:
                    self.buffer.clear()
                break
            end = min(ends)
            command = bytes(self.buffer[:end]).decode("latin-1").strip()
            del self.buffer[: end + 1]
            if command:
                reply = self.answer(command)
                if reply is not None:
                    out += reply.encode("latin-1") + b"\r\n"
        return bytes(out)


class Tec3000(FrontEnd):
    type = "tec3000"

    def __init__(self, device: SimDevice, env: Environment, settings: Tec3000FrontEnd) -> None:
        super().__init__(device, env)
        self.settings = settings
        self.binding = Binding(device, ROLES, settings.bind)
        factory = lambda: Tec3000Session(self.answer)  # noqa: E731
        self.line: Line
        if settings.line == "socket":
            self.line = SocketLine(factory, env.host, settings.port)
        else:
            link = env.run_dir / settings.link if settings.link else None
            self.line = PtyLine(factory, Path(link) if link else None)

    @classmethod
    def roles(cls, settings: Any) -> tuple[Role, ...]:
        return ROLES

    def answer(self, command: str) -> str | None:
        """The answer line to a command; None: stay silent."""
        if not self.device.answering:
            return None
        command = command.upper()
        if command == "*IDN?":
            return f"CHART MVE,TEC3000 (simulated),{self.device.id},1.0"
        spec = COMMANDS.get(command)
        if spec is None:
            return "?"
        return self._format(spec, self.binding.read().get(spec.role))

    def _format(self, spec: Command, value: FieldValue) -> str:
        if value is BROKEN:
            return spec.format.format(self.settings.sentinel)
        n = number(value)
        if n is None:
            return "?"
        return spec.format.format(1.0 if spec.flag and n else n)

    async def start(self) -> None:
        await self.line.start()

    async def stop(self) -> None:
        await self.line.stop()

    def describe(self) -> str:
        return f"serial query (TEC-3000-like LN2 controller) on {self.line.port_name}"

    def coldwatch(self, interval: float) -> Reader:
        timeout, response_timeout = poll_timing(interval)
        device = {
            "id": self.device.id,
            "driver": "serial",
            "interval": interval,
            "timeout": timeout,
            "backoff": {"initial": interval, "max": max(interval, 5.0)},
            "settings": {
                "mode": "query",
                "port": self.line.port_name,
                "baudrate": 9600,
                "send_terminator": "\r",
                "receive_terminator": "\n",
                "response_timeout": response_timeout,
            },
        }
        channels = []
        for command, spec in COMMANDS.items():
            if self.binding.output(spec.role) is None:
                continue
            source: dict[str, Any] = {
                "device": self.device.id,
                "command": command,
                "pattern": FLAG if spec.flag else NUMBER,
                "error_patterns": [r"^\?"],
            }
            extra: dict[str, Any] = {"name": f"{self.binding.output(spec.role)} by {command}"}
            if spec.flag:
                source["map"] = {"0": 0, "1": 1}
            elif spec.quantity == "temperature":
                extra["sentinels"] = [self.settings.sentinel]
            channels.append(channel(spec.channel, spec.quantity, spec.unit, source, **extra))
        return Reader(device, channels)
