"""Typed settings for a serial line-protocol device and for each channel read from it.

One model covers both modes so that one registry name (``serial``) serves every line
device: ``mode: query`` sends a command per channel and parses the answer, ``mode: push``
parses frames the device sends on its own. Keys that only make sense in one mode are
refused in the other with a message that says so, and every pattern is compiled at load
time, so a typo in a regular expression never reaches a running daemon.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from drivers.base import DriverSettings, PointSettings
from drivers.serial.escapes import Escaped
from monitor.core.durations import Duration

Mode = Literal["query", "push"]

#: A number anywhere in the answer: what a query channel without ``pattern`` reads.
DEFAULT_NUMBER_PATTERN = r"(?P<value>[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)"
#: Keys only a query device uses, with their defaults (checked by value, so that a dump
#: of the settings validates again).
QUERY_ONLY = ("send_terminator", "response_timeout", "pause_between_commands", "echo")
#: What a YAML 1.1 loader makes of unquoted ON/OFF/yes/no map keys.
_YAML_BOOLEAN_KEYS = frozenset({"True", "False"})


def compile_pattern(text: str, what: str = "pattern") -> re.Pattern[str]:
    """Compile a configured regular expression; the error names it and says where it broke."""
    if not text:
        raise ValueError(f"{what} is empty: it would match every frame")
    try:
        return re.compile(text)
    except re.error as exc:
        raise ValueError(f"{what} {text!r} is not a valid regular expression: {exc}") from None


def _check_port(port: str) -> str:
    if not port.strip():
        raise ValueError("port is empty: give a device path such as /dev/ttyUSB0")
    if "://" not in port:
        return port
    if not port.startswith("socket://"):
        raise ValueError(
            f"port '{port}': only device paths (/dev/ttyUSB0, /dev/serial/by-id/...) and "
            "socket://host:port (a serial-to-Ethernet server in raw TCP mode) are supported"
        )
    host, sep, number = port.removeprefix("socket://").rpartition(":")
    if not sep or not host or not number.isdigit() or not 1 <= int(number) <= 65535:
        raise ValueError(f"port '{port}' must look like socket://host:port")
    return port


class EventRule(BaseModel):
    """A frame matching ``pattern`` is recorded as a device event of ``kind``; the
    pattern's named groups become the event's data."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pattern: str
    kind: str = Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")
    suppress_repeats: bool = False
    """Record the event once while consecutive frames keep matching (a freezer that repeats
    UNDERTEMP in every frame raises one event, not one per frame)."""

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        compile_pattern(value, "event pattern")
        return value


class SerialSettings(DriverSettings):
    """One line device: where it is, how the line is set up, how frames are cut."""

    mode: Mode
    port: str
    """A device path (/dev/ttyUSB0, /dev/serial/by-id/...) or socket://host:port."""
    baudrate: int = Field(default=9600, ge=50, le=4_000_000)
    bytesize: Literal[5, 6, 7, 8] = 8
    parity: Literal["N", "E", "O", "M", "S"] = "N"
    stopbits: float = 1
    rtscts: bool = False
    xonxoff: bool = False

    # How received bytes become frames (both modes)
    receive_terminator: Escaped = "\n"
    frame_length: int | None = Field(default=None, ge=1, le=65536)
    strip: Escaped = ""
    """Bytes deleted from every frame wherever they are (e.g. NUL padding)."""
    trim: bool = True
    """Remove leading and trailing whitespace (so CR LF, LF and LF CR endings all work)."""
    max_frame: int = Field(default=4096, ge=16, le=65536)
    """A frame longer than this is garbage: it is discarded and counted, never buffered."""

    # Query mode
    send_terminator: Escaped = "\r\n"
    response_timeout: Duration = Field(default=1.0, gt=0, le=60)
    pause_between_commands: Duration = Field(default=0.0, le=10)
    echo: bool = False
    """The device echoes each command before answering: skip the echoed line."""

    # Push mode
    events: tuple[EventRule, ...] = ()

    @field_validator("port")
    @classmethod
    def _port(cls, value: str) -> str:
        return _check_port(value)

    @field_validator("stopbits")
    @classmethod
    def _stopbits(cls, value: float) -> float:
        if value not in (1, 1.5, 2):
            raise ValueError(f"stopbits {value:g} is not one of 1, 1.5, 2")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> SerialSettings:
        fields = type(self).model_fields
        if self.frame_length is not None:
            if self.receive_terminator != fields["receive_terminator"].default:
                raise ValueError(
                    "set either receive_terminator or frame_length: frames are cut on a "
                    "terminator or every frame_length bytes, not both"
                )
            if self.frame_length > self.max_frame:
                raise ValueError(
                    f"frame_length {self.frame_length} is longer than max_frame {self.max_frame}"
                )
        elif not self.receive_terminator:
            raise ValueError("receive_terminator is empty: frames could never end")
        if self.mode == "query":
            if self.events:
                raise ValueError(
                    "events only apply to mode push; in mode query each answer belongs to "
                    "the channel whose command asked for it"
                )
            if not self.send_terminator:
                raise ValueError(
                    "send_terminator is empty: the device could not tell where a command ends"
                )
        else:
            wrong = [k for k in QUERY_ONLY if getattr(self, k) != fields[k].default]
            if wrong:
                raise ValueError(f"{', '.join(wrong)} only apply to mode query, not push")
        return self

    @property
    def is_socket(self) -> bool:
        return self.port.startswith("socket://")


class SerialPoint(PointSettings):
    """How one channel's value is found in a frame (push) or in its command's answer (query).

    Checked in this order: ``fault_patterns`` (sensor_fault), ``error_patterns``
    (comm_error), then ``pattern`` whose named group ``value`` is the value.
    """

    command: Escaped | None = None
    pattern: str | None = None
    type: Literal["number", "text"] = "number"
    scale: float = 1.0
    offset: float = 0.0
    map: dict[str, float] | None = None
    """Matched text -> number, for discrete states ({"ON": 1, "OFF": 0}). The key "" stands
    for a ``value`` group that did not take part in the match."""
    error_patterns: tuple[str, ...] = ()
    fault_patterns: tuple[str, ...] = ()

    @field_validator("command")
    @classmethod
    def _command(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("command is empty")
        return value

    @field_validator("pattern")
    @classmethod
    def _value_group(cls, value: str | None) -> str | None:
        if value is not None and "value" not in compile_pattern(value).groupindex:
            raise ValueError(
                f"pattern {value!r} has no group named 'value': mark the part to read as "
                "(?P<value>...)"
            )
        return value

    @field_validator("error_patterns", "fault_patterns")
    @classmethod
    def _compile_all(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        for value in values:
            compile_pattern(value)
        return values

    @field_validator("map")
    @classmethod
    def _map(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        if value is None:
            return None
        if not value:
            raise ValueError("map is empty")
        booleans = sorted(_YAML_BOOLEAN_KEYS & set(value))
        if booleans:
            raise ValueError(
                f"map key {booleans[0]!r} is what YAML makes of an unquoted ON/OFF/yes/no/"
                'true/false: quote the keys, e.g. map: {"ON": 1, "OFF": 0}'
            )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> SerialPoint:
        if self.type == "text":
            if self.map is not None or self.scale != 1 or self.offset != 0:
                raise ValueError("map, scale and offset do not apply to type text")
        elif self.map is not None and (self.scale != 1 or self.offset != 0):
            raise ValueError(
                "scale and offset do not apply with map: write the numbers you want in the map"
            )
        return self

    @property
    def value_pattern(self) -> str:
        return self.pattern if self.pattern is not None else DEFAULT_NUMBER_PATTERN
