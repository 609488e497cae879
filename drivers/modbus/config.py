"""Typed settings for a Modbus device and for each channel read from it.

Keys are chosen so that nothing is ambiguous: ``host``/``port`` only mean Modbus TCP,
``serial_port`` (a device path or ``socket://host:port``) only means RTU/ASCII framing.
Every rule that can be checked without talking to the device is checked here, at load time.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field, model_validator

from drivers.base import DriverSettings, PointSettings
from monitor.core.durations import Duration

Transport = Literal["tcp", "rtu", "ascii"]
RegisterKind = Literal["holding", "input", "coil", "discrete"]
DataType = Literal[
    "int16",
    "uint16",
    "int32",
    "uint32",
    "int64",
    "uint64",
    "float32",
    "float64",
    "string",
    "bool",
]
ByteOrder = Literal["ABCD", "CDAB", "BADC", "DCBA"]

#: Registers per value of each fixed-size type (strings give their own ``length``).
REGISTERS_OF: dict[str, int] = {
    "int16": 1,
    "uint16": 1,
    "int32": 2,
    "uint32": 2,
    "int64": 4,
    "uint64": 4,
    "float32": 2,
    "float64": 4,
}

BIT_KINDS = frozenset({"coil", "discrete"})
SERIAL_KEYS = ("serial_port", "baudrate", "bytesize", "parity", "stopbits")
#: A serial bus needs a short silence between frames; TCP does not.
DEFAULT_SERIAL_PAUSE = 0.005


class ModbusSettings(DriverSettings):
    """One Modbus device (one unit id) and the workarounds its firmware needs."""

    transport: Transport
    # Modbus TCP
    host: str | None = None
    port: int = Field(default=502, ge=1, le=65535)
    # RTU / ASCII over a serial line, or over TCP through a serial-to-Ethernet gateway
    serial_port: str | None = None
    baudrate: int = Field(default=19200, ge=300, le=1_000_000)
    bytesize: Literal[7, 8] = 8
    parity: Literal["N", "E", "O"] = "N"
    stopbits: Literal[1, 2] = 1

    unit: int = Field(default=1, ge=0, le=255)
    request_timeout: Duration = Field(default=1.0, gt=0, le=60)
    # Workarounds for real device quirks (named as in Telegraf's modbus input)
    pause_between_requests: Duration = Field(default=0.0, le=10)
    close_after_poll: bool = False
    one_request_per_field: bool = False
    max_registers_per_request: int = Field(default=125, ge=1, le=125)
    max_bits_per_request: int = Field(default=2000, ge=1, le=2000)
    merge_gap: int = Field(default=0, ge=0, le=64)
    """Unread registers (or bits) a merged request may span between two fields. 0 by
    default because many devices refuse a read that touches an undefined register."""

    @model_validator(mode="before")
    @classmethod
    def _serial_keys(cls, data: Any) -> Any:
        """Before field validation, so that ``port: /dev/ttyUSB0`` gets a message that
        says what to write instead of "not a valid integer"."""
        if not isinstance(data, dict) or data.get("transport") not in ("rtu", "ascii"):
            return data
        if data.get("host") is not None or data.get("port", 502) != 502:
            raise ValueError(
                f"transport {data['transport']} takes its line from 'serial_port' "
                "(a device such as /dev/ttyUSB0, or socket://host:port for a "
                "serial-to-Ethernet gateway), not 'host'/'port'"
            )
        if "pause_between_requests" not in data:
            return {**data, "pause_between_requests": DEFAULT_SERIAL_PAUSE}
        return data

    @model_validator(mode="after")
    def _keys_fit_transport(self) -> ModbusSettings:
        # by value, not by presence, so that a dump of the settings validates again
        if self.transport == "tcp":
            if not self.host:
                raise ValueError("transport tcp needs 'host' (and optionally 'port', default 502)")
            fields = type(self).model_fields
            wrong = [k for k in SERIAL_KEYS if getattr(self, k) != fields[k].default]
            if wrong:
                raise ValueError(
                    f"{', '.join(wrong)} only apply to transport rtu or ascii, not tcp"
                )
        else:
            if not self.serial_port:
                raise ValueError(
                    f"transport {self.transport} needs 'serial_port' (e.g. /dev/ttyUSB0 "
                    "or socket://192.0.2.10:4001)"
                )
            if self.serial_port.startswith("socket://"):
                _check_socket_url(self.serial_port)
        return self

    @property
    def serial(self) -> bool:
        return self.transport != "tcp"

    @property
    def where(self) -> str:
        """The line this device is reached through, for messages."""
        if self.transport == "tcp":
            return f"{self.host}:{self.port}"
        return f"{self.serial_port}"


def _check_socket_url(url: str) -> None:
    host, sep, port = url.removeprefix("socket://").rpartition(":")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"serial_port '{url}' must look like socket://host:port")


class ModbusPoint(PointSettings):
    """Where one channel's value sits in the device and how to turn it into a number."""

    model_config = ConfigDict(extra="forbid", frozen=True, serialize_by_alias=True)

    kind: RegisterKind = Field(alias="register")
    """Configured as ``register:``; named ``kind`` because pydantic models are ABCs and
    ``register`` would shadow ``ABCMeta.register``."""
    address: int = Field(ge=0, le=65535)
    type: DataType
    byte_order: ByteOrder = "ABCD"
    bit: int | None = Field(default=None, ge=0, le=15)
    length: int | None = Field(default=None, ge=1, le=125)
    scale: float = 1.0
    offset: float = 0.0

    @model_validator(mode="before")
    @classmethod
    def _bits_default_to_bool(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("register") in BIT_KINDS and "type" not in data:
            return {**data, "type": "bool"}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> ModbusPoint:
        # by value, not by presence, so that a dump of the point validates again
        if self.kind in BIT_KINDS:
            if self.type != "bool":
                raise ValueError(
                    f"a {self.kind} is one bit: its type must be bool, not {self.type}"
                )
            if self.byte_order != "ABCD":
                raise ValueError(f"'byte_order' does not apply to a {self.kind}")
            for key in ("bit", "length"):
                if getattr(self, key) is not None:
                    raise ValueError(f"'{key}' does not apply to a {self.kind}")
        elif self.type == "bool":
            raise ValueError(
                f"type bool is for coil or discrete; for one bit of a {self.kind} "
                "register use type uint16 with 'bit: 0..15'"
            )
        if self.bit is not None and self.type not in ("int16", "uint16"):
            raise ValueError(
                f"'bit' picks a bit of a 16-bit register: type must be int16 or "
                f"uint16, not {self.type}"
            )
        if self.type == "string":
            if self.length is None:
                raise ValueError("type string needs 'length' (in registers, 2 characters each)")
            if self.byte_order not in ("ABCD", "BADC"):
                raise ValueError(
                    "a string's byte_order is ABCD or BADC (bytes swapped per register)"
                )
            if self.scale != 1 or self.offset != 0:
                raise ValueError("scale and offset do not apply to type string")
        elif self.length is not None:
            raise ValueError("'length' only applies to type string")
        if self.address + self.count - 1 > 65535:
            raise ValueError(f"address {self.address} + {self.count} registers passes 65535")
        return self

    @property
    def count(self) -> int:
        """Registers (or bits) this point occupies."""
        if self.kind in BIT_KINDS:
            return 1
        if self.type == "string":
            return self.length or 1
        return REGISTERS_OF[self.type]
