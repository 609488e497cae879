"""The simulator's YAML, as typed settings: which devices, which model, which front end.

Only what can be checked without the models is checked here; :mod:`simulators.loader`
then checks each device's model parameters, faults and bindings against its model kind,
so that every error names the file and line it comes from.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from monitor.core.durations import Duration

ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
ModelKind = Literal["ult_freezer", "ln2_dewar", "co2_incubator", "controlled_rate_freezer"]
LineKind = Literal["pty", "socket"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def check_loopback(host: str) -> str:
    """Simulators and their control endpoint listen on loopback only: they have no auth."""
    if host == "localhost":
        return host
    try:
        if ipaddress.ip_address(host).is_loopback:
            return host
    except ValueError:
        pass
    raise ValueError(f"host '{host}' is not a loopback address: simulators listen on 127.0.0.1")


class _FrontEnd(Strict):
    bind: dict[str, str] = {}
    """Front-end field (role) -> model output, overriding the defaults."""


class LineFrontEnd(_FrontEnd):
    line: LineKind = "pty"
    """``pty``: a pseudo-terminal, coldwatch opens its path; ``socket``: raw TCP, as a
    serial-to-Ethernet server (coldwatch opens ``socket://127.0.0.1:<port>``)."""
    port: int = Field(default=0, ge=0, le=65535)
    """TCP port for ``line: socket`` (0: any free port)."""
    link: str | None = None
    """For ``line: pty``: a stable symlink to the pty (like /dev/serial/by-id/...)."""

    @model_validator(mode="after")
    def _line_keys(self) -> LineFrontEnd:
        if self.line == "pty" and self.port:
            raise ValueError("'port' is for line: socket; a pty has a path (see 'link')")
        if self.line == "socket" and self.link is not None:
            raise ValueError("'link' is for line: pty; a socket line has a 'port'")
        return self


class ModbusFrontEnd(LineFrontEnd):
    """A register map (``tsx`` or ``vaisala``) over Modbus TCP, RTU or ASCII."""

    type: Literal["modbus"]
    map: Literal["tsx", "vaisala"]
    transport: Literal["tcp", "rtu", "ascii"] = "tcp"
    line: LineKind = "socket"
    unit: int = Field(default=1, ge=1, le=247)
    sentinel: float = -999.9
    """What the ``tsx`` map reports for a broken probe (the ``vaisala`` map reports NaN)."""

    @model_validator(mode="after")
    def _tcp_keys(self) -> ModbusFrontEnd:
        if self.transport == "tcp" and self.line != "socket":
            raise ValueError("transport tcp listens on a TCP port: 'line' must be socket")
        return self


class Tec3000FrontEnd(LineFrontEnd):
    """A TEC-3000-like LN2 controller answering line commands (coldwatch serial, query)."""

    type: Literal["tec3000"]
    sentinel: float = -999.9


class Forma900FrontEnd(LineFrontEnd):
    """A Forma-900-like freezer pushing a frame every ``interval`` (coldwatch serial, push)."""

    type: Literal["forma900"]
    interval: Duration = Field(default=10.0, ge=0.05, le=3600)
    """Clock seconds between frames (not simulated seconds)."""


class MqttFrontEnd(_FrontEnd):
    """JSON state messages, a retained status topic and a last will, on an MQTT broker."""

    type: Literal["mqtt"]
    topic_prefix: str = Field(default="coldwatch-sim", pattern=r"^[A-Za-z0-9_./-]+$")
    interval: Duration = Field(default=5.0, ge=0.05, le=3600)
    """Clock seconds between state messages."""
    qos: Literal[0, 1] = 1
    client_id: str | None = None

    @field_validator("topic_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if value.startswith("/") or value.endswith("/") or "//" in value:
            raise ValueError(f"topic_prefix '{value}' must not start or end with '/'")
        return value


FrontEnd = Annotated[
    ModbusFrontEnd | Tec3000FrontEnd | Forma900FrontEnd | MqttFrontEnd,
    Field(discriminator="type"),
]


class Device(Strict):
    id: str = Field(pattern=ID_PATTERN)
    name: str | None = None
    model: ModelKind
    seed: int = 0
    step: Duration = Field(default=1.0, gt=0, le=10)
    """The model's integration sub-step (simulated seconds); larger is cheaper at high speed."""
    params: dict[str, Any] = {}
    """Model parameters (the fields of e.g. ``UltFreezerParams``), checked per kind."""
    faults: tuple[str, ...] = ()
    """Faults active from the start."""
    frontend: FrontEnd


class Broker(Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)


class Control(Strict):
    port: int = Field(default=0, ge=0, le=65535)
    """0: a free port, written to the state file next to the configuration."""


class SimConfig(Strict):
    speed: float = Field(default=1.0, gt=0, le=100_000)
    """Simulated seconds per clock second: 60 runs one simulated hour per real minute."""
    tick: Duration = Field(default=0.5, ge=0.01, le=10)
    """Clock seconds between model updates."""
    host: str = "127.0.0.1"
    control: Control = Control()
    mqtt: Broker = Broker()
    devices: tuple[Device, ...]

    @field_validator("host")
    @classmethod
    def _loopback(cls, value: str) -> str:
        return check_loopback(value)
