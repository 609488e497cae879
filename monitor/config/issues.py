"""How a configuration error reads: file, line, dotted path, the object, the message.

e.g. ``example.yaml:31: locations[0].equipment[0].channels[0].unit: equipment 'freezer-07'
channel 'cabinet_temp': unit 'degC' is not one of C``. Pydantic's errors are turned into the
same shape, in words an installer understands.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

PathKey = tuple[str | int, ...]
Describer = Callable[[Mapping[str, Any], PathKey], str]
"""Names the objects a path runs through inside one top-level section."""

_LABELS = {
    "devices": "device",
    "locations": "location",
    "equipment": "equipment",
    "channels": "channel",
}


@dataclass(frozen=True)
class ConfigIssue:
    file: str
    line: int | None
    path: str
    obj: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        parts = [where]
        if self.path:
            parts.append(self.path)
        if self.obj:
            parts.append(self.obj)
        parts.append(self.message)
        return ": ".join(parts)


class ConfigError(Exception):
    def __init__(self, issues: Sequence[ConfigIssue]) -> None:
        self.issues = list(issues)
        super().__init__("\n".join(str(i) for i in self.issues))


def dotted(path: Iterable[str | int]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def describe(
    data: Mapping[str, Any], path: PathKey, describers: Mapping[str, Describer] | None = None
) -> str:
    """Name the innermost objects a path runs through: "equipment 'x' channel 'y'"."""
    section = path[0] if path else None
    if describers and isinstance(section, str) and section in describers:
        return describers[section](data, path)
    names: list[str] = []
    node: Any = data
    pending: str | None = None
    for part in path:
        if isinstance(part, str):
            pending = _LABELS.get(part)
            node = node.get(part) if isinstance(node, Mapping) else None
        else:
            node = node[part] if isinstance(node, list) and part < len(node) else None
            if pending and isinstance(node, Mapping):
                ident = node.get("id")
                names.append(
                    f"{pending} '{ident}'" if ident is not None else f"{pending} #{part + 1}"
                )
            pending = None
        if node is None:
            break
    if len(names) > 1 and names[0].startswith("location"):
        names = names[1:]  # equipment ids are unique site-wide; the room adds nothing
    return " ".join(names)


_BOUNDS = {
    "less_than_equal": ("at most", "le"),
    "less_than": ("less than", "lt"),
    "greater_than_equal": ("at least", "ge"),
    "greater_than": ("more than", "gt"),
}


def pydantic_message(err: Mapping[str, Any]) -> str:
    """One pydantic error in the installer's words."""
    kind = err.get("type", "")
    loc = err.get("loc", ())
    ctx = err.get("ctx", {})
    if kind == "extra_forbidden":
        return f"unknown key '{loc[-1]}'"
    if kind == "missing":
        return f"'{loc[-1]}' is required"
    if kind in ("enum", "literal_error"):
        expected = ctx.get("expected", "")
        return f"'{err.get('input')}' is not one of {expected.replace(chr(39), '')}"
    if kind == "string_pattern_mismatch":
        return (
            f"'{err.get('input')}' is not a valid id (lower-case letters, digits, '-' and '_', "
            "starting with a letter or digit)"
        )
    if kind in _BOUNDS:
        words, key = _BOUNDS[kind]
        return f"{err.get('input')!r} is out of range: it must be {words} {ctx.get(key)}"
    msg = str(err.get("msg", "invalid"))
    return msg.removeprefix("Value error, ")
