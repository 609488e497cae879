"""Equipment models: plain, deterministic physics advanced by simulated time.

Each kind is a :class:`Model` with ``advance``, faults, ``values()`` and events; a front end
drives them from a clock and speaks a device protocol over them.
"""

from __future__ import annotations

from typing import Protocol

from simulators.models.base import COMMON_FAULTS, Model, ModelStatus
from simulators.models.co2_incubator import Co2Incubator, Co2IncubatorParams
from simulators.models.controlled_rate_freezer import (
    ControlledRateFreezer,
    ControlledRateFreezerParams,
)
from simulators.models.crf_profile import DEFAULT_PROFILE, Hold, Profile, Ramp, Step
from simulators.models.events import Event
from simulators.models.ln2_dewar import Ln2Dewar, Ln2DewarParams
from simulators.models.sensor import SensorParams, Value
from simulators.models.ult_freezer import UltFreezer, UltFreezerParams

#: The model classes by their ``kind``.
MODEL_TYPES: dict[str, type[Model]] = {
    cls.kind: cls for cls in (UltFreezer, Ln2Dewar, Co2Incubator, ControlledRateFreezer)
}


class ModelFactory(Protocol):
    def __call__(self, *, seed: int = 0, step_s: float = 1.0, max_events: int = 1000) -> Model: ...


_FACTORIES: dict[str, ModelFactory] = {
    "ult_freezer": UltFreezer,
    "ln2_dewar": Ln2Dewar,
    "co2_incubator": Co2Incubator,
    "controlled_rate_freezer": ControlledRateFreezer,
}


def create_model(kind: str, *, seed: int = 0, step_s: float = 1.0, max_events: int = 1000) -> Model:
    """A model of this kind with its default parameters. Raises ValueError for unknown kinds."""
    try:
        factory = _FACTORIES[kind]
    except KeyError:
        raise ValueError(
            f"no model kind {kind!r}; known: {', '.join(sorted(_FACTORIES))}"
        ) from None
    return factory(seed=seed, step_s=step_s, max_events=max_events)


__all__ = [
    "COMMON_FAULTS",
    "DEFAULT_PROFILE",
    "MODEL_TYPES",
    "Co2Incubator",
    "Co2IncubatorParams",
    "ControlledRateFreezer",
    "ControlledRateFreezerParams",
    "Event",
    "Hold",
    "Ln2Dewar",
    "Ln2DewarParams",
    "Model",
    "ModelFactory",
    "ModelStatus",
    "Profile",
    "Ramp",
    "SensorParams",
    "Step",
    "UltFreezer",
    "UltFreezerParams",
    "Value",
    "create_model",
]
