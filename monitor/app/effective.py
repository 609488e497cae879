"""The effective configuration as the store keeps it: every section dumped from its model.

The root model holds some sections as raw mappings that other models validate afterwards
(each notifier's settings, each device's ``settings`` and each channel's ``source``, whose
models the notifier type or the driver picks). Dumping those raw would store a secret that
its own model types as :data:`monitor.core.secrets.Secret` (a webhook URL, a secret header,
an MQTT password) in clear, so they are dumped from their models too, and every secret
field, wherever it sits, becomes :data:`monitor.core.secrets.REDACTED`. Redaction by key
names runs over the result only as a second net.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from alarms.notify.registry import parse_settings
from drivers.binding import DeviceBindings
from monitor.config.sections import SiteConfig
from monitor.core.secrets import REDACTED, redact, secrets_deferred


def effective_config(
    config: BaseModel, bindings: DeviceBindings, notifiers: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """``config`` as JSON, with the notifiers (``{name: raw settings}``), device settings and
    channel sources replaced by the dumps of the models that validated them."""
    data = config.model_dump(mode="json")
    if "notifiers" in data:
        data["notifiers"] = {name: _notifier(raw) for name, raw in notifiers.items()}
    if isinstance(config, SiteConfig):
        _devices(data, bindings)
        _sources(data, config, bindings)
    result = redact(data)
    assert isinstance(result, dict)
    return result


def _notifier(raw: Mapping[str, Any]) -> object:
    """Dumped from its model; validated without reading a secret (a dump never holds one),
    so ``check-config --without-secrets -v`` prints the daemon's hash."""
    try:
        with secrets_deferred():
            return parse_settings(raw).model_dump(mode="json")
    except ValidationError:  # not reached after a successful load: keep nothing but the type
        return {key: value if key == "type" else REDACTED for key, value in raw.items()}


def _devices(data: dict[str, Any], bindings: DeviceBindings) -> None:
    for device in data.get("devices", ()):
        settings = bindings.driver_settings.get(device["id"])
        if settings is not None:
            device["settings"] = settings.model_dump(mode="json")


def _sources(data: dict[str, Any], config: SiteConfig, bindings: DeviceBindings) -> None:
    for loc_data, loc in zip(data.get("locations", ()), config.locations, strict=True):
        for eq_data, eq in zip(loc_data["equipment"], loc.equipment, strict=True):
            for ch_data, ch in zip(eq_data["channels"], eq.channels, strict=True):
                point = bindings.point_settings.get(f"{eq.id}.{ch.id}")
                if point is not None:
                    dumped = point.model_dump(mode="json")
                    ch_data["source"] = {"device": ch.source.device, **dumped}
