"""Register maps that follow real devices, and how role values become 16-bit words.

* ``tsx``: a Thermo-TSX-like -80 C freezer (docs/simulators.md has the register table): set
  points at 0x530/0x538/0x53C and the cabinet probe at 0x540, INT32 big-endian words x10;
  thermocouples TC2..TC5 as FLOAT32 ABCD at 0x4CC/0x4D0/0x4D4/0x4D8; status bits at 0x671
  (bit 1 power failure) and 0x674 (bit 9 door open). A broken probe reads the sentinel
  (-999.9 unless configured); so does an unconnected thermocouple input.
* ``vaisala``: a Vaisala-GMP251-like CO2 probe: CO2 ppm FLOAT32 CDAB at 0x0000, the
  probe's temperature FLOAT32 CDAB at 0x0002, CO2 ppm as INT16 at 0x0100 and ppm/10 at
  0x0101, device status 0x0800 and CO2 status 0x0801. The transmitter *is* the probe: an
  open circuit makes every measurement NaN (INT16 forms -32768) and the status words 2
  (error / unreliable).

Registers a map does not list do not exist (a read touching one is refused).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from simulators.bindings import BROKEN, PRIMARY, FieldValue, Role, number

RegType = Literal["int16", "uint16", "int32", "float32"]
_INT_RANGE = {
    "int16": (-(2**15), 2**15 - 1),
    "uint16": (0, 2**16 - 1),
    "int32": (-(2**31), 2**31 - 1),
}


@dataclass(frozen=True)
class Field:
    """One value in the map. ``scale``: register value = output x scale."""

    address: int
    type: RegType
    role: str | None = None
    byte_order: Literal["ABCD", "CDAB"] = "ABCD"
    scale: float = 1.0
    bit: int | None = None
    probe_status: int | None = None
    """A status word (no role): this value while the probe is broken, else 0."""
    channel: str | None = None
    """The channel id a generated coldwatch configuration gives this field (None: none)."""
    quantity: str = "temperature"
    unit: str = "C"

    @property
    def count(self) -> int:
        return 2 if self.type in ("int32", "float32") else 1


@dataclass(frozen=True)
class RegisterMap:
    name: str
    title: str
    roles: tuple[Role, ...]
    fields: tuple[Field, ...]
    broken: float
    """What a value field shows with a broken probe or no bound output: a sentinel or NaN."""
    whole_probe: bool = False

    def image(self, values: Mapping[str, FieldValue], probe_broken: bool) -> dict[int, int]:
        """Every register's word for these role values."""
        words: dict[int, int] = {}
        for f in self.fields:
            if f.probe_status is not None:
                words[f.address] = f.probe_status if probe_broken else 0
            elif f.bit is not None:
                on = number(values.get(f.role) if f.role else None)
                words.setdefault(f.address, 0)
                if on:
                    words[f.address] |= 1 << f.bit
            else:
                value = values.get(f.role) if f.role else None
                for i, word in enumerate(self._encode(f, value)):
                    words[f.address + i] = word
        return words

    def _encode(self, f: Field, value: FieldValue) -> list[int]:
        n = None if value is BROKEN else number(value)
        if f.type == "float32":
            raw = self.broken if n is None else n * f.scale
            data = struct.pack(">f", raw)
        else:
            low, high = _INT_RANGE[f.type]
            if n is None:
                count = low if math.isnan(self.broken) else round(self.broken * f.scale)
            else:
                count = round(n * f.scale)
            count = min(high, max(low, count))
            fmt = {"int16": ">h", "uint16": ">H", "int32": ">i"}[f.type]
            data = struct.pack(fmt, count)
        regs = [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]
        return regs[::-1] if f.byte_order == "CDAB" else regs


def tsx(sentinel: float = -999.9) -> RegisterMap:
    roles = (
        Role("cabinet_temp", (PRIMARY,)),
        Role("setpoint", ("setpoint", "temp_setpoint")),
        Role("warm_alarm_setpoint", ("warm_alarm_setpoint",)),
        Role("cold_alarm_setpoint", ("cold_alarm_setpoint",)),
        Role("tc2", (PRIMARY,)),
        Role("tc3", ()),
        Role("tc4", ()),
        Role("tc5", ()),
        Role("power_fail", ("power_fail",)),
        Role("door_open", ("door_open", "lid_open")),
    )
    fields = (
        Field(0x530, "int32", "setpoint", scale=10, channel="setpoint"),
        Field(0x538, "int32", "warm_alarm_setpoint", scale=10, channel="warm_alarm_setpoint"),
        Field(0x53C, "int32", "cold_alarm_setpoint", scale=10),
        Field(0x540, "int32", "cabinet_temp", scale=10, channel="cabinet_temp"),
        Field(0x4CC, "float32", "tc2", channel="tc2_temp"),
        Field(0x4D0, "float32", "tc3", channel="tc3_temp"),
        Field(0x4D4, "float32", "tc4", channel="tc4_temp"),
        Field(0x4D8, "float32", "tc5", channel="tc5_temp"),
        Field(
            0x671,
            "uint16",
            "power_fail",
            bit=1,
            channel="power_failure",
            quantity="power_failure",
            unit="bool",
        ),
        Field(
            0x674,
            "uint16",
            "door_open",
            bit=9,
            channel="door_open",
            quantity="door_open",
            unit="bool",
        ),
    )
    return RegisterMap("tsx", "Thermo-TSX-like register map", roles, fields, sentinel)


def vaisala() -> RegisterMap:
    roles = (Role("co2", ("co2",)), Role("temperature", (PRIMARY,)))
    fields = (
        Field(
            0x0000, "float32", "co2", "CDAB", scale=10_000, channel="co2", quantity="co2", unit="%"
        ),
        Field(0x0002, "float32", "temperature", "CDAB", channel="temperature"),
        Field(0x0100, "int16", "co2", scale=10_000),
        Field(0x0101, "int16", "co2", scale=1_000),
        Field(
            0x0800,
            "uint16",
            probe_status=2,
            channel="probe_status",
            quantity="status_code",
            unit="code",
        ),
        Field(0x0801, "uint16", probe_status=2),
    )
    return RegisterMap(
        "vaisala", "Vaisala-GMP251-like register map", roles, fields, math.nan, whole_probe=True
    )


def register_map(name: str, sentinel: float = -999.9) -> RegisterMap:
    if name == "tsx":
        return tsx(sentinel)
    if name == "vaisala":
        return vaisala()
    raise ValueError(f"no register map {name!r}; known: tsx, vaisala")
