"""Drivers by name: the built-in ones, then third-party ones from the ``coldwatch.drivers``
entry point group. Never from import paths built out of configuration strings."""

from __future__ import annotations

import logging
from functools import cache
from importlib.metadata import entry_points

from drivers.base import Driver

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "coldwatch.drivers"


def _builtin() -> dict[str, type[Driver]]:  # type: ignore[type-arg]
    from drivers.modbus.driver import ModbusDriver

    return {ModbusDriver.name: ModbusDriver}


_registered: dict[str, type[Driver]] = {}  # type: ignore[type-arg]


def register(cls: type[Driver]) -> type[Driver]:  # type: ignore[type-arg]
    """Add a driver class by its ``name`` (used by tests and embedding applications)."""
    _registered[cls.name] = cls
    available.cache_clear()
    return cls


@cache
def available() -> dict[str, type[Driver]]:  # type: ignore[type-arg]
    drivers = {**_builtin(), **_registered}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in drivers:
            log.warning("driver plugin %s ignored: a built-in driver has that name", ep.name)
            continue
        try:
            cls = ep.load()
        except Exception as exc:  # a broken plugin must not stop the daemon
            log.error("driver plugin %s failed to load: %s", ep.name, exc)
            continue
        if isinstance(cls, type) and issubclass(cls, Driver):
            drivers[ep.name] = cls
        else:
            log.error("driver plugin %s is not a coldwatch Driver subclass", ep.name)
    return drivers


def get(name: str) -> type[Driver]:  # type: ignore[type-arg]
    return available()[name]
