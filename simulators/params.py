"""Model parameters from YAML: a mapping checked against the kind's parameter dataclass.

pydantic validates the dataclass (types, nested ``sensor`` and ``profile`` steps, and the
dataclass' own ``__post_init__`` checks); unknown keys, which pydantic would ignore for a
plain dataclass, are refused here with the list of known ones.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from pydantic import TypeAdapter, ValidationError

from simulators.models import (
    MODEL_TYPES,
    Co2IncubatorParams,
    ControlledRateFreezerParams,
    Ln2DewarParams,
    Model,
    UltFreezerParams,
)

PARAMS: dict[str, type[Any]] = {
    "ult_freezer": UltFreezerParams,
    "ln2_dewar": Ln2DewarParams,
    "co2_incubator": Co2IncubatorParams,
    "controlled_rate_freezer": ControlledRateFreezerParams,
}


class ParamError(ValueError):
    """A parameter problem; ``key`` is the parameter it concerns (None: the whole set)."""

    def __init__(self, key: str | None, message: str) -> None:
        super().__init__(message)
        self.key = key
        self.message = message


def build_params(kind: str, params: Mapping[str, Any]) -> Any:
    """The kind's parameter object. Raises :class:`ParamError` naming the parameter."""
    cls = PARAMS[kind]
    known = [f.name for f in dataclasses.fields(cls)]
    for key in params:
        if key not in known:
            raise ParamError(key, f"{kind} has no parameter '{key}'; known: {', '.join(known)}")
    try:
        return TypeAdapter(cls).validate_python(dict(params))
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = [str(p) for p in err["loc"]]
        message = str(err["msg"]).removeprefix("Value error, ")
        raise ParamError(loc[0] if loc else None, message) from None


def build_model(
    kind: str, params: Mapping[str, Any], *, seed: int = 0, step_s: float = 1.0
) -> Model:
    """A model of ``kind`` with these parameters (defaults for the rest)."""
    cls: Any = MODEL_TYPES[kind]
    model: Model = cls(build_params(kind, params), seed=seed, step_s=step_s)
    return model
