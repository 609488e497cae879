"""Drivers by name: the built-in ones, then third-party ones from the ``coldwatch.drivers``
entry point group. Never from import paths built out of configuration strings.

Built-in drivers are imported when a configuration first uses them, so that a site without
MQTT never imports the MQTT client.
"""

from __future__ import annotations

import importlib
import logging
from functools import cache
from importlib.metadata import entry_points

from drivers.base import Driver

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "coldwatch.drivers"

#: name -> "module:Class", fixed here in code.
BUILTIN: dict[str, str] = {
    "modbus": "drivers.modbus.driver:ModbusDriver",
    "serial": "drivers.serial.driver:SerialDriver",
    "mqtt": "drivers.mqtt.driver:MqttDriver",
}

_registered: dict[str, type[Driver]] = {}  # type: ignore[type-arg]


def register(cls: type[Driver]) -> type[Driver]:  # type: ignore[type-arg]
    """Add a driver class by its ``name`` (used by tests and embedding applications)."""
    _registered[cls.name] = cls
    _plugins.cache_clear()
    return cls


@cache
def _plugins() -> dict[str, type[Driver]]:  # type: ignore[type-arg]
    found: dict[str, type[Driver]] = {}  # type: ignore[type-arg]
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in BUILTIN:
            log.warning("driver plugin %s ignored: a built-in driver has that name", ep.name)
            continue
        try:
            cls = ep.load()
        except Exception as exc:  # a broken plugin must not stop the daemon
            log.error("driver plugin %s failed to load: %s", ep.name, exc)
            continue
        if isinstance(cls, type) and issubclass(cls, Driver):
            found[ep.name] = cls
        else:
            log.error("driver plugin %s is not a coldwatch Driver subclass", ep.name)
    return {**found, **_registered}


def names() -> list[str]:
    return sorted({*BUILTIN, *_plugins()})


@cache
def _import_builtin(name: str) -> type[Driver]:  # type: ignore[type-arg]
    module_name, _, attr = BUILTIN[name].partition(":")
    cls = getattr(importlib.import_module(module_name), attr)
    assert isinstance(cls, type) and issubclass(cls, Driver)
    return cls


def get(name: str) -> type[Driver] | None:  # type: ignore[type-arg]
    """The driver class for ``name``, or None when no driver has that name."""
    if name in BUILTIN:
        return _import_builtin(name)
    return _plugins().get(name)
