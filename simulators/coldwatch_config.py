"""A coldwatch configuration that reads a running simulation with the real drivers.

Each front end says how coldwatch reads it (ports are known once the simulation started);
this puts the pieces into one configuration: one location, one equipment per simulated
device (its id the device id), and the store. The result passes ``coldwatch check-config``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from simulators.simulation import Simulation


def coldwatch_config(
    sim: Simulation,
    *,
    store_path: str,
    poll_interval: float = 2.0,
    site_id: str = "sim-lab",
    commit_interval: float = 1.0,
) -> dict[str, Any]:
    devices: list[dict[str, Any]] = []
    equipment: list[dict[str, Any]] = []
    for device_id, frontend in sim.frontends.items():
        device = sim.devices[device_id]
        reader = frontend.coldwatch(poll_interval)
        devices.append(reader.device)
        equipment.append(
            {
                "id": device_id,
                "kind": device.kind,
                "name": device.name or f"Simulated {device.kind.replace('_', ' ')}",
                "channels": reader.channels,
            }
        )
    return {
        "site": {"id": site_id, "name": "Simulated facility (coldwatch simulators)"},
        "store": {"backend": "sqlite", "path": store_path, "commit_interval": commit_interval},
        "logging": {"level": "info", "format": "text"},
        "devices": devices,
        "locations": [{"id": "sim-lab", "name": "Simulated laboratory", "equipment": equipment}],
    }


def write_config(data: dict[str, Any], path: Path, header: str) -> Path:
    """Write ``data`` as YAML with a comment ``header`` on top."""
    comment = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines())
    path.write_text(comment + yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return path
