"""Binding the configuration to drivers: each device's ``settings`` and each channel's
``source`` validated by the models its driver declares, then the driver's own cross-checks.

The result is what the coordinator builds drivers from; problems go to the loader's checker,
placed at the file and line of the key at fault.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import ValidationError

from drivers import registry
from drivers.base import DriverSettings, Point, PointSettings
from monitor.config.loader import Checker
from monitor.config.sections import Device, SiteConfig


@dataclass
class DeviceBindings:
    """Validated driver settings by device id, and point settings by channel id."""

    driver_settings: dict[str, DriverSettings] = field(default_factory=dict)
    point_settings: dict[str, PointSettings] = field(default_factory=dict)


def bind_devices(cfg: SiteConfig, checker: Checker) -> DeviceBindings:
    bindings = DeviceBindings()
    for i, dev in enumerate(cfg.devices):
        _bind_device(i, dev, bindings, checker)
    first_index = {dev.id: i for i, dev in reversed(list(enumerate(cfg.devices)))}
    for dev_id, points in _bind_points(cfg, bindings, checker).items():
        i = first_index[dev_id]
        settings = bindings.driver_settings.get(dev_id)
        driver = registry.get(cfg.devices[i].driver)
        if settings is None or driver is None:
            continue
        for message in driver.check(settings, points):
            checker.add(("devices", i), message)
    return bindings


def _bind_device(i: int, dev: Device, bindings: DeviceBindings, checker: Checker) -> None:
    driver = registry.get(dev.driver)
    if driver is None:
        checker.add(
            ("devices", i, "driver"),
            f"driver '{dev.driver}' is not one of {', '.join(registry.names())}",
        )
        return
    try:
        settings = driver.settings_model.model_validate(dev.settings)
    except ValidationError as exc:
        checker.add_validation(exc, ("devices", i, "settings"))
        return
    bindings.driver_settings[dev.id] = settings
    for message in driver.check_timing(settings, dev.timeout, dev.interval):
        checker.add(("devices", i, "timeout"), message)


def _bind_points(
    cfg: SiteConfig, bindings: DeviceBindings, checker: Checker
) -> dict[str, list[Point[PointSettings]]]:
    first_device: dict[str, Device] = {}
    for device in cfg.devices:
        first_device.setdefault(device.id, device)
    bound: dict[str, list[Point[PointSettings]]] = {}
    for i, loc in enumerate(cfg.locations):
        for j, eq in enumerate(loc.equipment):
            for k, ch in enumerate(eq.channels):
                dev = first_device.get(ch.source.device)
                driver = registry.get(dev.driver) if dev is not None else None
                if dev is None or driver is None:
                    continue  # check_site or _bind_device named it
                path = ("locations", i, "equipment", j, "channels", k, "source")
                try:
                    point = driver.point_model.model_validate(dict(ch.source.model_extra or {}))
                except ValidationError as exc:
                    checker.add_validation(exc, path)
                    continue
                channel_id = f"{eq.id}.{ch.id}"
                bindings.point_settings[channel_id] = point
                bound.setdefault(dev.id, []).append(Point(channel_id, point))
    return bound
