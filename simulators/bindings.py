"""Front-end fields (roles) bound to model outputs, and the broken probe.

A front end shows *roles* (a TSX map's cabinet temperature, a TEC's level); each role is
bound to one model output, by default the first of its candidates the model has
(``$primary`` is the model's primary temperature), or as the YAML's ``bind:`` says. That is
what lets any model sit behind any front end.

Under ``sensor_open_circuit`` a role bound to the model's primary output reads
:data:`BROKEN`, and each front end shows it in its own protocol's form (a sentinel, NaN,
``T_ERR``, JSON null). A front end that *is* the probe (a Vaisala transmitter) breaks all
its roles at once (``whole_probe``).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from simulators.device import SimDevice
from simulators.outputs import info, outputs_of, primary_of

PRIMARY: Final = "$primary"


class Broken(enum.Enum):
    """The marker for "the probe is broken": each protocol shows it its own way."""

    BROKEN = "broken"


BROKEN: Final = Broken.BROKEN

FieldValue = float | str | None | Broken
"""A role's value: a number or text, None when unbound or the model has none, or BROKEN."""


@dataclass(frozen=True)
class Role:
    name: str
    candidates: tuple[str, ...]
    """Outputs to bind by default, first one the model has wins; ``$primary`` allowed."""
    text: bool = False
    """Whether the role shows text (most roles are numbers)."""


def default_output(kind: str, role: Role) -> str | None:
    outputs = outputs_of(kind)
    for candidate in role.candidates:
        name = primary_of(kind) if candidate == PRIMARY else candidate
        if name in outputs:
            return name
    return None


def check_bindings(
    kind: str, roles: Sequence[Role], overrides: Mapping[str, str]
) -> list[tuple[str, str]]:
    """Problems with ``bind:`` as (role, message); empty when it is fine."""
    by_name = {r.name: r for r in roles}
    outputs = outputs_of(kind)
    problems = []
    for role_name, output in overrides.items():
        role = by_name.get(role_name)
        if role is None:
            problems.append(
                (role_name, f"no field '{role_name}' to bind; fields: {', '.join(by_name)}")
            )
        elif output not in outputs:
            problems.append(
                (role_name, f"{kind} has no output '{output}'; outputs: {', '.join(outputs)}")
            )
        elif info(output).text and not role.text:
            problems.append(
                (role_name, f"output '{output}' is text; field '{role_name}' is a number")
            )
    return problems


def resolve(
    kind: str, roles: Sequence[Role], overrides: Mapping[str, str]
) -> dict[str, str | None]:
    """Each role's output (None: unbound). Call :func:`check_bindings` first."""
    return {r.name: overrides.get(r.name) or default_output(kind, r) for r in roles}


class Binding:
    """Reads a device's roles, with the broken probe applied."""

    def __init__(
        self,
        device: SimDevice,
        roles: Sequence[Role],
        overrides: Mapping[str, str],
        *,
        whole_probe: bool = False,
    ) -> None:
        self.device = device
        self.outputs = resolve(device.kind, roles, overrides)
        self.whole_probe = whole_probe

    @property
    def probe_broken(self) -> bool:
        return "sensor_open_circuit" in self.device.model.faults

    def output(self, role: str) -> str | None:
        return self.outputs.get(role)

    def read(self) -> dict[str, FieldValue]:
        model = self.device.model
        values = model.values()
        broken = self.probe_broken
        out: dict[str, FieldValue] = {}
        for role, output in self.outputs.items():
            if output is None:
                out[role] = None
            elif broken and (self.whole_probe or output == model.primary_output):
                out[role] = BROKEN
            else:
                out[role] = values.get(output)
        return out


def number(value: FieldValue) -> float | None:
    """A role's value as a finite number, or None (unbound, text, missing, non-finite)."""
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None
