"""Protocol front ends: any model behind any of them.

* ``modbus``: a register map (``tsx``, ``vaisala``) over Modbus TCP, RTU or ASCII
  (RTU/ASCII on a pseudo-terminal or a raw TCP port, i.e. ``socket://``);
* ``tec3000``: line commands answered (coldwatch serial driver, ``mode: query``);
* ``forma900``: frames pushed unasked (coldwatch serial driver, ``mode: push``);
* ``mqtt``: JSON state, a status topic and a last will (coldwatch MQTT driver).
"""

from __future__ import annotations

from typing import Any

from simulators.bindings import Role
from simulators.device import SimDevice
from simulators.frontends.base import Environment, FrontEnd, Reader


def _types() -> dict[str, type[FrontEnd]]:
    from simulators.frontends.forma900 import Forma900
    from simulators.frontends.modbus import ModbusServer
    from simulators.frontends.mqtt import MqttPublisher
    from simulators.frontends.tec3000 import Tec3000

    return {cls.type: cls for cls in (ModbusServer, Tec3000, Forma900, MqttPublisher)}


def roles_for(settings: Any) -> tuple[Role, ...]:
    """The fields a front end of these settings shows (what ``bind:`` may name)."""
    return _types()[settings.type].roles(settings)


def build_frontend(device: SimDevice, env: Environment, settings: Any) -> FrontEnd:
    cls: Any = _types()[settings.type]
    frontend: FrontEnd = cls(device, env, settings)
    return frontend


__all__ = ["Environment", "FrontEnd", "Reader", "build_frontend", "roles_for"]
