"""Loading a simulator configuration: YAML with line numbers, validation, per-kind checks.

Errors read like the main configuration's (the same :class:`ConfigIssue`):
``sim.yaml:14: devices[1].faults[0]: device 'dewar-01': ln2_dewar has no fault 'door_open';
it accepts: comm_drop, ...``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from monitor.config.issues import ConfigError, ConfigIssue
from simulators.bindings import check_bindings
from simulators.config import LineFrontEnd, SimConfig
from simulators.frontends import roles_for
from simulators.models import MODEL_TYPES
from simulators.params import ParamError, build_params

PathKey = tuple[str | int, ...]
_FRONTEND_TYPES = frozenset({"modbus", "tec3000", "forma900", "mqtt"})


class _Positions:
    """Line of every path in the document (the nearest enclosing one if not recorded)."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.lines: dict[PathKey, int] = {}

    def line(self, path: PathKey) -> int | None:
        for end in range(len(path), -1, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return None


def _construct(node: yaml.Node, path: PathKey, pos: _Positions) -> Any:
    pos.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = str(_scalar(key_node))
            if key in out:
                raise ConfigError(
                    [_issue(pos, (*path, key), {}, f"key '{key}' appears twice", key_node)]
                )
            pos.lines[(*path, key)] = key_node.start_mark.line + 1
            out[key] = _construct(value_node, (*path, key), pos)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_construct(item, (*path, i), pos) for i, item in enumerate(node.value)]
    return _scalar(node)


def _scalar(node: yaml.Node) -> Any:
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    finally:
        loader.dispose()


def _dotted(path: PathKey) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def _issue(
    pos: _Positions,
    path: PathKey,
    data: Mapping[str, Any],
    message: str,
    node: yaml.Node | None = None,
) -> ConfigIssue:
    line = node.start_mark.line + 1 if node is not None else pos.line(path)
    obj = ""
    if len(path) >= 2 and path[0] == "devices" and isinstance(path[1], int):
        devices = data.get("devices")
        if isinstance(devices, list) and path[1] < len(devices):
            ident = devices[path[1]].get("id") if isinstance(devices[path[1]], dict) else None
            obj = f"device '{ident}'" if ident is not None else f"device #{path[1] + 1}"
    return ConfigIssue(pos.file, line, _dotted(path), obj, message)


def _message(err: Mapping[str, Any]) -> str:
    kind, loc = err.get("type", ""), err.get("loc", ())
    ctx = err.get("ctx", {})
    if kind == "extra_forbidden":
        return f"unknown key '{loc[-1]}'"
    if kind == "missing":
        return f"'{loc[-1]}' is required"
    if kind in ("literal_error", "enum"):
        expected = str(ctx.get("expected", "")).replace("'", "")
        return f"'{err.get('input')}' is not one of {expected}"
    if kind == "union_tag_invalid":
        return f"type '{ctx.get('tag')}' is not one of {', '.join(sorted(_FRONTEND_TYPES))}"
    if kind == "union_tag_not_found":
        return f"'type' is required (one of {', '.join(sorted(_FRONTEND_TYPES))})"
    if kind == "string_pattern_mismatch":
        return f"'{err.get('input')}' is not a valid id (lower-case letters, digits, '-', '_')"
    return str(err.get("msg", "invalid")).removeprefix("Value error, ")


def _validation_issues(
    exc: ValidationError, data: Mapping[str, Any], pos: _Positions
) -> list[ConfigIssue]:
    issues = []
    for err in exc.errors():
        loc = list(err["loc"])
        # a discriminated union puts the tag into the path: frontend.modbus.map -> frontend.map
        if len(loc) >= 4 and loc[2] == "frontend" and loc[3] in _FRONTEND_TYPES:
            del loc[3]
        issues.append(_issue(pos, tuple(loc), data, _message(err)))
    return issues


def _checks(cfg: SimConfig, data: Mapping[str, Any], pos: _Positions) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []

    def add(path: PathKey, message: str) -> None:
        issues.append(_issue(pos, path, data, message))

    if not cfg.devices:
        add(("devices",), "no devices: a simulator needs at least one")
    first: dict[str, int] = {}
    endpoints: dict[tuple[str, Any], int] = {}
    for i, dev in enumerate(cfg.devices):
        base: PathKey = ("devices", i)
        if dev.id in first:
            add((*base, "id"), f"duplicate device id '{dev.id}' (first at line "
                f"{pos.line(('devices', first[dev.id]))})")  # fmt: skip
        first.setdefault(dev.id, i)
        try:
            build_params(dev.model, dev.params)
        except ParamError as exc:
            add((*base, "params", *([exc.key] if exc.key else [])), exc.message)
        accepted = MODEL_TYPES[dev.model].accepted_faults()
        for j, fault in enumerate(dev.faults):
            if fault not in accepted:
                add((*base, "faults", j), f"{dev.model} has no fault '{fault}'; it accepts: "
                    f"{', '.join(sorted(accepted))}")  # fmt: skip
        fe = dev.frontend
        for role, message in check_bindings(dev.model, roles_for(fe), fe.bind):
            add((*base, "frontend", "bind", role), message)
        key: tuple[str, Any] | None = None
        if isinstance(fe, LineFrontEnd) and fe.port:
            key = ("port", fe.port)
        elif isinstance(fe, LineFrontEnd) and fe.link:
            key = ("link", fe.link)
        if key is not None:
            if key in endpoints:
                add((*base, "frontend", key[0]), f"{key[0]} {key[1]} is already used by device "
                    f"'{cfg.devices[endpoints[key]].id}'")  # fmt: skip
            endpoints.setdefault(key, i)
    if cfg.control.port and ("port", cfg.control.port) in endpoints:
        add(("control", "port"), f"port {cfg.control.port} is also a device's port")
    return issues


def parse(text: str, file: str) -> SimConfig:
    """Validate a simulator configuration given as text; ``file`` names it in errors."""
    pos = _Positions(file)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(
            [ConfigIssue(file, mark.line + 1 if mark else None, "", "", f"invalid YAML: {problem}")]
        ) from None
    if node is None:
        raise ConfigError([ConfigIssue(file, None, "", "", "the file is empty")])
    data = _construct(node, (), pos)
    if not isinstance(data, dict):
        raise ConfigError([ConfigIssue(file, 1, "", "", "the top level must be a mapping")])
    try:
        cfg = SimConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_validation_issues(exc, data, pos)) from None
    issues = _checks(cfg, data, pos)
    if issues:
        raise ConfigError(issues)
    return cfg


def load_sim_config(path: str | Path) -> SimConfig:
    """Load and check a simulator configuration; :class:`ConfigError` lists every problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            [ConfigIssue(str(path), None, "", "", f"cannot read: {exc.strerror}")]
        ) from None
    return parse(text, str(path))
