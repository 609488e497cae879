"""What each model output means to coldwatch: its quantity and unit.

Front ends publish outputs by name; the generated coldwatch configuration needs to know
that ``level`` is an LN2 level in mm and ``power_fail`` a power-failure flag. Outputs marked
``channel`` are the ones worth a coldwatch channel when a front end shows every output (MQTT).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from simulators.models import create_model


@dataclass(frozen=True)
class OutputInfo:
    quantity: str
    unit: str
    channel: bool = False
    text: bool = False
    nullable: bool = False
    """None at times (a controlled-rate freezer's program setpoint between runs)."""


def _t(channel: bool = False) -> OutputInfo:
    return OutputInfo("temperature", "C", channel)


OUTPUTS: dict[str, OutputInfo] = {
    # ULT freezer
    "cabinet_temp": _t(channel=True),
    "setpoint": _t(),
    "warm_alarm_setpoint": _t(),
    "cold_alarm_setpoint": _t(),
    "compressor_on": OutputInfo("other", "", channel=True),
    "door_open": OutputInfo("door_open", "bool", channel=True),
    "power_fail": OutputInfo("power_failure", "bool", channel=True),
    "system_status": OutputInfo("status_code", "code"),
    "relay_status": OutputInfo("status_code", "code"),
    # LN2 dewar
    "temp_top": _t(channel=True),
    "level": OutputInfo("ln2_level", "mm", channel=True),
    "fill_valve_open": OutputInfo("fill_valve_open", "bool", channel=True),
    "lid_open": OutputInfo("lid_open", "bool", channel=True),
    "fill_time": OutputInfo("other", "", channel=True),
    "low_level_setpoint": OutputInfo("ln2_level", "mm"),
    "high_level_setpoint": OutputInfo("ln2_level", "mm"),
    # CO2 incubator
    "chamber_temp": _t(channel=True),
    "co2": OutputInfo("co2", "%", channel=True),
    "rh": OutputInfo("relative_humidity", "%RH", channel=True),
    "temp_setpoint": _t(),
    "co2_setpoint": OutputInfo("co2", "%"),
    # controlled-rate freezer
    "sample_temp": _t(channel=True),
    "program_temp": OutputInfo("temperature", "C", nullable=True),
    "step": OutputInfo("other", "", nullable=True),
    "running": OutputInfo("other", "", channel=True),
    "run_state": OutputInfo("text", "text", channel=True, text=True),
    "run_time": OutputInfo("other", "", nullable=True),
}


def info(output: str) -> OutputInfo:
    """The output's meaning; an output this table does not know is 'other'."""
    return OUTPUTS.get(output, OutputInfo("other", ""))


@cache
def outputs_of(kind: str) -> tuple[str, ...]:
    """The outputs a model kind reports, in its own order."""
    return tuple(create_model(kind).true_values())


@cache
def primary_of(kind: str) -> str:
    return create_model(kind).primary_output
