"""A Modbus slave (TCP, RTU or ASCII) serving a register map over one model.

The register image is computed from the model when a request arrives, so every answer
shows the model as it stands. Under ``comm_drop`` requests are read and never answered.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

from simulators.bindings import Binding, Role
from simulators.config import ModbusFrontEnd
from simulators.device import SimDevice
from simulators.frontends.base import Environment, FrontEnd, Reader, channel, poll_timing
from simulators.frontends.lines import Line, PtyLine, Session, SocketLine
from simulators.frontends.modbus_frames import (
    Answering,
    Application,
    AsciiSession,
    RtuSession,
    TcpSession,
)
from simulators.frontends.modbus_maps import Field, RegisterMap, register_map
from simulators.frontends.modbus_pdu import answer

_SESSIONS: dict[str, Callable[[int, Application, Answering], Session]] = {
    "tcp": TcpSession,
    "rtu": RtuSession,
    "ascii": AsciiSession,
}
# Line settings written into the generated configuration, as the real devices use them:
# the TSX speaks 7E1 ASCII, the Vaisala 8N2 RTU (a socket line ignores them).
_SERIAL_LINE: dict[str, dict[str, Any]] = {
    "tsx": {"baudrate": 9600, "bytesize": 7, "parity": "E", "stopbits": 1},
    "vaisala": {"baudrate": 19200, "bytesize": 8, "parity": "N", "stopbits": 2},
}


class ModbusServer(FrontEnd):
    type = "modbus"

    def __init__(self, device: SimDevice, env: Environment, settings: ModbusFrontEnd) -> None:
        super().__init__(device, env)
        self.settings = settings
        self.map: RegisterMap = register_map(settings.map, settings.sentinel)
        self.binding = Binding(
            device, self.map.roles, settings.bind, whole_probe=self.map.whole_probe
        )
        self.line: Line
        if settings.line == "socket":
            self.line = SocketLine(self._session, env.host, settings.port)
        else:
            link = env.run_dir / settings.link if settings.link else None
            self.line = PtyLine(self._session, Path(link) if link else None)

    @classmethod
    def roles(cls, settings: Any) -> tuple[Role, ...]:
        return register_map(settings.map).roles

    def image(self) -> dict[int, int]:
        """Every register as a request would read it now."""
        return self.map.image(self.binding.read(), self.binding.probe_broken)

    def _session(self) -> Session:
        session_type = _SESSIONS[self.settings.transport]
        return session_type(
            self.settings.unit, lambda pdu: answer(pdu, self.image), lambda: self.device.answering
        )

    async def start(self) -> None:
        await self.line.start()

    async def stop(self) -> None:
        await self.line.stop()

    def describe(self) -> str:
        s = self.settings
        if s.transport == "tcp" and isinstance(self.line, SocketLine):
            where = f"Modbus TCP {self.line.host}:{self.line.port}"
        else:
            where = f"Modbus {s.transport.upper()} on {self.line.port_name}"
        return f"{where} unit {s.unit}, {self.map.title}"

    def coldwatch(self, interval: float) -> Reader:
        s = self.settings
        timeout, request_timeout = poll_timing(interval)
        settings: dict[str, Any] = {"transport": s.transport}
        if s.transport == "tcp" and isinstance(self.line, SocketLine):
            settings.update(host=self.line.host, port=self.line.port)
        else:
            line = dict(_SERIAL_LINE[s.map])
            if isinstance(self.line, PtyLine):  # Linux ptys refuse 7 data bits and parity
                line.update(bytesize=8, parity="N")
            settings.update(serial_port=self.line.port_name, **line)
        settings.update(unit=s.unit, request_timeout=request_timeout)
        device = {
            "id": self.device.id,
            "driver": "modbus",
            "interval": interval,
            "timeout": timeout,
            "backoff": {"initial": interval, "max": max(interval, 5.0)},
            "settings": settings,
        }
        channels = [self._channel(f) for f in self.map.fields if self._shown(f)]
        return Reader(device, channels)

    def _shown(self, f: Field) -> bool:
        if f.channel is None:
            return False
        return f.probe_status is not None or self.binding.output(f.role or "") is not None

    def _channel(self, f: Field) -> dict[str, Any]:
        assert f.channel is not None
        source: dict[str, Any] = {
            "device": self.device.id,
            "register": "holding",
            "address": f.address,
            "type": f.type,
        }
        if f.byte_order != "ABCD":
            source["byte_order"] = f.byte_order
        if f.scale != 1:
            source["scale"] = 1 / f.scale
        if f.bit is not None:
            source["bit"] = f.bit
        extra: dict[str, Any] = {}
        output = self.binding.output(f.role or "")
        if output is not None:
            extra["name"] = f"{output} at {f.address:#06x}"
        if f.bit is None and f.probe_status is None and not math.isnan(self.map.broken):
            extra["sentinels"] = decoded_sentinels(self.map.broken, f)
        return channel(f.channel, f.quantity, f.unit, source, **extra)


def decoded_sentinels(sentinel: float, f: Field) -> list[float]:
    """The sentinel, and the number the coldwatch driver decodes it to.

    Channel checks compare sentinels exactly, and -999.9 does not survive FLOAT32
    (-999.9000244...) or INT32 x 0.1 (-999.9000000000001); both forms are declared so that
    the broken probe is a ``sensor_fault`` either way.
    """
    if f.type == "float32":
        raw = struct.unpack(">f", struct.pack(">f", sentinel * f.scale))[0]
    else:
        raw = float(round(sentinel * f.scale))
    decoded = raw * (1 / f.scale) + 0.0
    return [sentinel] if decoded == sentinel else [sentinel, decoded]
