"""Cross-checks of the shared sections that a model alone cannot express: unique ids, timing
that makes sense, units that fit the quantity, channels that name a device that exists."""

from __future__ import annotations

from monitor.config.loader import Checker
from monitor.config.sections import Channel, SiteConfig
from monitor.core.model import UNITS


def check_site(cfg: SiteConfig, checker: Checker) -> None:
    check_unique_ids(cfg, checker)
    check_devices(cfg, checker)
    for i, loc in enumerate(cfg.locations):
        for j, eq in enumerate(loc.equipment):
            path = ("locations", i, "equipment", j, "channels")
            checker.duplicates([((*path, k), ch.id) for k, ch in enumerate(eq.channels)], "channel")
            if not eq.channels:
                checker.add(path, "equipment needs at least one channel")
            for k, ch in enumerate(eq.channels):
                check_channel(cfg, ch, (*path, k), checker)


def check_unique_ids(cfg: SiteConfig, checker: Checker) -> None:
    checker.duplicates([(("devices", i), d.id) for i, d in enumerate(cfg.devices)], "device")
    checker.duplicates(
        [(("locations", i), loc.id) for i, loc in enumerate(cfg.locations)], "location"
    )
    checker.duplicates(
        [
            (("locations", i, "equipment", j), eq.id)
            for i, loc in enumerate(cfg.locations)
            for j, eq in enumerate(loc.equipment)
        ],
        "equipment",
    )


def check_devices(cfg: SiteConfig, checker: Checker) -> None:
    for i, dev in enumerate(cfg.devices):
        if dev.timeout >= dev.interval:
            checker.add(
                ("devices", i, "timeout"),
                f"poll timeout {dev.timeout:g} s must be shorter than "
                f"the interval {dev.interval:g} s",
            )
        if dev.backoff.initial > dev.backoff.max:
            checker.add(("devices", i, "backoff"), "backoff.initial must not exceed backoff.max")


def check_channel(
    cfg: SiteConfig, ch: Channel, path: tuple[str | int, ...], checker: Checker
) -> None:
    allowed = UNITS[ch.quantity]
    if ch.unit not in allowed:
        checker.add(
            (*path, "unit"),
            f"unit '{ch.unit}' is not one of {', '.join(allowed)} (for {ch.quantity.value})",
        )
    if ch.range is not None and ch.range.min >= ch.range.max:
        checker.add((*path, "range"), "range.min must be below range.max")
    devices = sorted({d.id for d in cfg.devices})
    if ch.source.device not in devices:
        checker.add(
            (*path, "source", "device"),
            f"device '{ch.source.device}' does not exist (devices: {', '.join(devices) or 'none'})",
        )
