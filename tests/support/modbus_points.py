"""Modbus settings and points from plain data, for the tests of the driver's pure parts."""

from __future__ import annotations

from typing import Any

from drivers.modbus.config import ModbusPoint, ModbusSettings


def point(**kw: Any) -> ModbusPoint:
    return ModbusPoint.model_validate({"register": "holding", "address": 0, **kw})


def settings(**kw: Any) -> ModbusSettings:
    return ModbusSettings.model_validate({"transport": "tcp", "host": "127.0.0.1", **kw})
