"""Loading configuration: YAML with line numbers, includes, validation and cross-checks.

Every error names the file, the line YAML gives, the dotted path and the object, e.g.
``example.yaml:31: locations[0].equipment[0].channels[0].unit: equipment 'freezer-07'
channel 'cabinet_temp': unit 'degC' is not one of C``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from alarms.config import describe_path as describe_alarm_path
from drivers.base import DriverSettings, PointSettings
from monitor.config.schema import Config
from monitor.config.secrets import redact
from monitor.model import UNITS

PathKey = tuple[str | int, ...]
LIST_SECTIONS = ("devices", "locations")
INCLUDE_KEY = "include"


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


@dataclass
class LoadedConfig:
    """A validated configuration with what the store keeps beside the records."""

    config: Config
    sources: list[str]
    driver_settings: dict[str, DriverSettings] = field(default_factory=dict)
    point_settings: dict[str, PointSettings] = field(default_factory=dict)

    @property
    def effective(self) -> dict[str, Any]:
        """The full effective configuration, secrets redacted."""
        dumped = self.config.model_dump(mode="json")
        result = redact(dumped)
        assert isinstance(result, dict)
        return result

    @property
    def effective_json(self) -> str:
        return json.dumps(self.effective, sort_keys=True, separators=(",", ":"))

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.effective_json.encode()).hexdigest()


# --- YAML with positions ---------------------------------------------------------------


class _Locations:
    """Maps a dotted path in the merged document to (file, line)."""

    def __init__(self) -> None:
        self.lines: dict[PathKey, tuple[str, int]] = {}

    def find(self, path: PathKey) -> tuple[str | None, int | None]:
        for end in range(len(path), -1, -1):
            hit = self.lines.get(path[:end])
            if hit:
                return hit
        return None, None


def _construct(node: yaml.Node, file: str, path: PathKey, locs: _Locations) -> Any:
    locs.lines[path] = (file, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = yaml.SafeLoader(" ").construct_object(key_node)  # scalars only
            if not isinstance(key, str):
                key = str(key)
            if key in result:
                raise _IssueList(
                    [
                        ConfigIssue(
                            file,
                            key_node.start_mark.line + 1,
                            _dotted((*path, key)),
                            "",
                            f"key '{key}' appears twice",
                        )
                    ]
                )
            locs.lines[(*path, key)] = (file, key_node.start_mark.line + 1)
            result[key] = _construct(value_node, file, (*path, key), locs)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_construct(item, file, (*path, i), locs) for i, item in enumerate(node.value)]
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    finally:
        loader.dispose()


class _IssueList(Exception):
    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = issues


def _read_yaml(path: Path) -> yaml.Node | None:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise _IssueList(
            [ConfigIssue(str(path), None, "", "", f"cannot read: {exc.strerror}")]
        ) from None
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise _IssueList(
            [ConfigIssue(str(path), line, "", "", f"invalid YAML: {problem}")]
        ) from None


def _dotted(path: Iterable[str | int]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _files_of(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml"))
    return [path]


def _merge_file(
    path: Path,
    merged: dict[str, Any],
    locs: _Locations,
    seen: list[Path],
    issues: list[ConfigIssue],
) -> None:
    resolved = path.resolve()
    if resolved in seen:
        issues.append(
            ConfigIssue(str(path), None, "", "", "included more than once (include loop?)")
        )
        return
    seen.append(resolved)
    node = _read_yaml(path)
    if node is None:
        return
    file_locs = _Locations()
    data = _construct(node, str(path), (), file_locs)
    if not isinstance(data, dict):
        issues.append(ConfigIssue(str(path), 1, "", "", "the top level must be a mapping"))
        return
    includes = data.pop(INCLUDE_KEY, [])
    if isinstance(includes, str):
        includes = [includes]
    for key, value in data.items():
        file_line = file_locs.lines.get((key,))
        if key in LIST_SECTIONS and isinstance(value, list):
            offset = len(merged.setdefault(key, []))
            merged[key].extend(value)
            for sub, where in file_locs.lines.items():
                if sub[:1] == (key,) and len(sub) > 1 and isinstance(sub[1], int):
                    locs.lines[(key, sub[1] + offset, *sub[2:])] = where
            if file_line:
                locs.lines.setdefault((key,), file_line)
        elif key in merged:
            first = locs.lines.get((key,))
            issues.append(
                ConfigIssue(
                    str(path),
                    file_line[1] if file_line else None,
                    key,
                    "",
                    f"section '{key}' is already set in {first[0] if first else 'another file'}",
                )
            )
        else:
            merged[key] = value
            for sub, where in file_locs.lines.items():
                if sub[:1] == (key,):
                    locs.lines[sub] = where
    if not isinstance(includes, list):
        issues.append(
            ConfigIssue(str(path), None, INCLUDE_KEY, "", "include takes a file name or a list")
        )
        return
    for inc in includes:
        for inc_path in _files_of(path.parent / str(inc)):
            _merge_file(inc_path, merged, locs, seen, issues)


# --- naming objects in messages ---------------------------------------------------------


def _describe(data: Mapping[str, Any], path: PathKey) -> str:
    """Name the innermost objects a path runs through: "equipment 'x' channel 'y'"."""
    if path[:1] == ("alarms",):
        return describe_alarm_path(data, path)
    names: list[str] = []
    node: Any = data
    labels = {
        "devices": "device",
        "locations": "location",
        "equipment": "equipment",
        "channels": "channel",
    }
    pending: str | None = None
    for part in path:
        if isinstance(part, str):
            pending = labels.get(part)
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


def _pydantic_message(err: Mapping[str, Any]) -> str:
    kind = err.get("type", "")
    loc = err.get("loc", ())
    if kind == "extra_forbidden":
        return f"unknown key '{loc[-1]}'"
    if kind == "missing":
        return f"'{loc[-1]}' is required"
    if kind == "enum":
        expected = err.get("ctx", {}).get("expected", "")
        return f"'{err.get('input')}' is not one of {expected.replace(chr(39), '')}"
    if kind == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        return f"'{err.get('input')}' is not one of {expected.replace(chr(39), '')}"
    if kind == "string_pattern_mismatch":
        return (
            f"'{err.get('input')}' is not a valid id (lower-case letters, digits, '-' and '_', "
            "starting with a letter or digit)"
        )
    ctx = err.get("ctx", {})
    bounds = {
        "less_than_equal": ("at most", "le"),
        "less_than": ("less than", "lt"),
        "greater_than_equal": ("at least", "ge"),
        "greater_than": ("more than", "gt"),
    }
    if kind in bounds:
        words, key = bounds[kind]
        return f"{err.get('input')!r} is out of range: it must be {words} {ctx.get(key)}"
    msg = str(err.get("msg", "invalid"))
    return msg.removeprefix("Value error, ")


def _issues_from_validation(
    exc: ValidationError,
    data: Mapping[str, Any],
    locs: _Locations,
    prefix: PathKey,
    default_file: str,
) -> list[ConfigIssue]:
    out = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        path = (*prefix, *loc)
        file, line = locs.find(path)
        out.append(
            ConfigIssue(
                file or default_file,
                line,
                _dotted(path),
                _describe(data, path),
                _pydantic_message(err),
            )
        )
    return out


# --- semantic checks --------------------------------------------------------------------


def _check(
    cfg: Config, data: Mapping[str, Any], locs: _Locations, main_file: str, loaded: LoadedConfig
) -> list[ConfigIssue]:
    from drivers import registry

    issues: list[ConfigIssue] = []

    def add(path: PathKey, message: str) -> None:
        file, line = locs.find(path)
        issues.append(
            ConfigIssue(file or main_file, line, _dotted(path), _describe(data, path), message)
        )

    def duplicates(ids: list[tuple[PathKey, str]], what: str) -> None:
        seen: dict[str, PathKey] = {}
        for path, ident in ids:
            if ident in seen:
                first_file, first_line = locs.find(seen[ident])
                add(
                    (*path, "id"),
                    f"duplicate {what} id '{ident}' (first at {first_file}:{first_line})",
                )
            else:
                seen[ident] = path

    duplicates([(("devices", i), d.id) for i, d in enumerate(cfg.devices)], "device")
    duplicates([(("locations", i), loc.id) for i, loc in enumerate(cfg.locations)], "location")
    duplicates(
        [
            (("locations", i, "equipment", j), eq.id)
            for i, loc in enumerate(cfg.locations)
            for j, eq in enumerate(loc.equipment)
        ],
        "equipment",
    )

    devices: dict[str, tuple[int, Any]] = {}
    for i, dev in enumerate(cfg.devices):
        devices.setdefault(dev.id, (i, dev))
        if dev.timeout >= dev.interval:
            add(
                ("devices", i, "timeout"),
                f"poll timeout {dev.timeout:g} s must be shorter than "
                f"the interval {dev.interval:g} s",
            )
        if dev.backoff.initial > dev.backoff.max:
            add(("devices", i, "backoff"), "backoff.initial must not exceed backoff.max")
        driver = registry.get(dev.driver)
        if driver is None:
            add(
                ("devices", i, "driver"),
                f"driver '{dev.driver}' is not one of {', '.join(registry.names())}",
            )
            continue
        try:
            settings = driver.settings_model.model_validate(dev.settings)
        except ValidationError as exc:
            issues.extend(
                _issues_from_validation(exc, data, locs, ("devices", i, "settings"), main_file)
            )
            continue
        loaded.driver_settings[dev.id] = settings
        for message in driver.check_timing(settings, dev.timeout, dev.interval):
            add(("devices", i, "timeout"), message)

    bound: dict[str, list[tuple[PathKey, str, BaseModel]]] = {}
    for i, loc in enumerate(cfg.locations):
        for j, eq in enumerate(loc.equipment):
            duplicates(
                [
                    (("locations", i, "equipment", j, "channels", k), ch.id)
                    for k, ch in enumerate(eq.channels)
                ],
                "channel",
            )
            if not eq.channels:
                add(
                    ("locations", i, "equipment", j, "channels"),
                    "equipment needs at least one channel",
                )
            for k, ch in enumerate(eq.channels):
                path: PathKey = ("locations", i, "equipment", j, "channels", k)
                allowed = UNITS[ch.quantity]
                if ch.unit not in allowed:
                    add(
                        (*path, "unit"),
                        f"unit '{ch.unit}' is not one of {', '.join(allowed)}"
                        f" (for {ch.quantity.value})",
                    )
                if ch.range is not None and ch.range.min >= ch.range.max:
                    add((*path, "range"), "range.min must be below range.max")
                target = devices.get(ch.source.device)
                if target is None:
                    add(
                        (*path, "source", "device"),
                        f"device '{ch.source.device}' does not exist (devices: "
                        f"{', '.join(sorted(devices)) or 'none'})",
                    )
                    continue
                dev = target[1]
                driver = registry.get(dev.driver)
                if driver is None:
                    continue
                extra = dict(ch.source.model_extra or {})
                try:
                    point = driver.point_model.model_validate(extra)
                except ValidationError as exc:
                    issues.extend(
                        _issues_from_validation(exc, data, locs, (*path, "source"), main_file)
                    )
                    continue
                channel_id = f"{eq.id}.{ch.id}"
                loaded.point_settings[channel_id] = point
                bound.setdefault(dev.id, []).append((path, channel_id, point))

    from drivers.base import Point

    for dev_id, points in bound.items():
        i, dev = devices[dev_id]
        bound_settings = loaded.driver_settings.get(dev_id)
        if bound_settings is None:
            continue
        driver = registry.get(dev.driver)
        assert driver is not None
        for message in driver.check(bound_settings, [Point(cid, p) for _, cid, p in points]):
            add(("devices", i), message)

    if cfg.alarms is not None:
        from alarms.rules import compile_rules

        for path, message in compile_rules(cfg).issues:
            add(path, message)

    from alarms.escalation.config import PagingConfig, check_paging

    for path, message in check_paging(PagingConfig.of(cfg), cfg):
        add(path, message)
    if cfg.acknowledgement is not None:
        from alarms.ack.config import os_user_map

        try:
            os_user_map(cfg.people)
        except ValueError as exc:
            add(("people",), str(exc))
    return issues


def load(path: str | Path) -> LoadedConfig:
    """Load, validate and cross-check; raise :class:`ConfigError` with every issue found."""
    path = Path(path)
    merged: dict[str, Any] = {}
    locs = _Locations()
    issues: list[ConfigIssue] = []
    files = _files_of(path)
    if not path.exists():
        raise ConfigError([ConfigIssue(str(path), None, "", "", "no such file or directory")])
    if not files:
        raise ConfigError(
            [ConfigIssue(str(path), None, "", "", "no .yaml files in this directory")]
        )
    seen: list[Path] = []
    try:
        for f in files:
            _merge_file(f, merged, locs, seen, issues)
    except _IssueList as exc:
        raise ConfigError(exc.issues + issues) from None
    if issues:
        raise ConfigError(issues)
    main_file = str(files[0])
    try:
        cfg = Config.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(_issues_from_validation(exc, merged, locs, (), main_file)) from None
    loaded = LoadedConfig(cfg, [str(p) for p in seen])
    issues = _check(cfg, merged, locs, main_file, loaded)
    if issues:
        raise ConfigError(issues)
    return loaded
