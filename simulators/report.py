"""What a running simulation tells people: its devices, where they answer, how to break them."""

from __future__ import annotations

import shlex
from pathlib import Path

from simulators.simulation import Simulation


def speed_text(speed: float) -> str:
    if speed == 1:
        return "real time"
    if speed == 60:
        return "60x: one simulated hour per real minute"
    return f"{speed:g}x: one simulated hour per {3600 / speed:.3g} real seconds"


def devices_text(sim: Simulation) -> str:
    width = max(len(d) for d in sim.devices)
    lines = []
    for device_id, device in sim.devices.items():
        lines.append(
            f"    {device_id:<{width}}  {device.kind:<23}  {sim.frontends[device_id].describe()}"
        )
    return "\n".join(lines)


def fault_hints(
    sim: Simulation,
    sim_config: Path | None,
    control: str,
    prog: str = "coldwatch",
    example: tuple[str, str] | None = None,
) -> str:
    """The commands that inject and clear a fault (``example``: which device and fault; by
    default the first device's first), and the faults each device takes."""
    target = f"-c {shlex.quote(str(sim_config))}" if sim_config else f"--control {control}"
    if example is None:
        first = next(iter(sim.devices.values()))
        example = (first.id, (sorted(first.model.process_faults) or ["comm_drop"])[0])
    command = f"{prog} sim fault {target} --device {example[0]} --fault {example[1]}"
    width = max(len(d) for d in sim.devices)
    lines = [
        f"    {command}",
        f"    {command} --clear",
        "  faults each device takes (sensor_open_circuit, sensor_drift, noisy, comm_drop: all):",
    ]
    for device_id, device in sim.devices.items():
        own = ", ".join(sorted(device.model.process_faults))
        lines.append(f"    {device_id:<{width}}  {own}")
    return "\n".join(lines)
