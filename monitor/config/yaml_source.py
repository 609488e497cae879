"""Reading the YAML: one file, a directory of them, or ``include:`` lists, merged into one
document that remembers the file and line of every dotted path (for error messages)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from monitor.config.issues import ConfigError, ConfigIssue, PathKey, dotted

LIST_SECTIONS = ("devices", "locations")
"""Sections that several files may each contribute items to; any other appears once."""
INCLUDE_KEY = "include"


class Positions:
    """Maps a dotted path in the merged document to (file, line)."""

    def __init__(self) -> None:
        self.lines: dict[PathKey, tuple[str, int]] = {}

    def find(self, path: PathKey) -> tuple[str | None, int | None]:
        for end in range(len(path), -1, -1):
            hit = self.lines.get(path[:end])
            if hit:
                return hit
        return None, None


@dataclass
class Document:
    """The merged configuration as plain data, where each part of it came from."""

    data: dict[str, Any]
    positions: Positions
    sources: list[str]
    main_file: str
    issues: list[ConfigIssue] = field(default_factory=list)


class _Stop(Exception):
    """A file that cannot be read or parsed: nothing after it can be trusted."""

    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = issues


def read_document(path: str | Path) -> Document:
    """Read and merge; raise :class:`ConfigError` naming every file-level problem."""
    path = Path(path)
    if not path.exists():
        raise ConfigError([ConfigIssue(str(path), None, "", "", "no such file or directory")])
    files = _files_of(path)
    if not files:
        raise ConfigError(
            [ConfigIssue(str(path), None, "", "", "no .yaml files in this directory")]
        )
    document = Document({}, Positions(), [], str(files[0]))
    seen: list[Path] = []
    try:
        for file in files:
            _merge_file(file, document, seen)
    except _Stop as exc:
        raise ConfigError(exc.issues + document.issues) from None
    if document.issues:
        raise ConfigError(document.issues)
    document.sources = [str(p) for p in seen]
    return document


def _construct(node: yaml.Node, file: str, path: PathKey, positions: Positions) -> Any:
    positions.lines[path] = (file, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = yaml.SafeLoader(" ").construct_object(key_node)  # scalars only
            if not isinstance(key, str):
                key = str(key)
            if key in result:
                line = key_node.start_mark.line + 1
                issue = ConfigIssue(
                    file, line, dotted((*path, key)), "", f"key '{key}' appears twice"
                )
                raise _Stop([issue])
            positions.lines[(*path, key)] = (file, key_node.start_mark.line + 1)
            result[key] = _construct(value_node, file, (*path, key), positions)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_construct(item, file, (*path, i), positions) for i, item in enumerate(node.value)]
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    finally:
        loader.dispose()


def _read_yaml(path: Path) -> yaml.Node | None:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise _Stop(
            [ConfigIssue(str(path), None, "", "", f"cannot read: {exc.strerror}")]
        ) from None
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise _Stop([ConfigIssue(str(path), line, "", "", f"invalid YAML: {problem}")]) from None


def _files_of(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml"))
    return [path]


def _merge_file(path: Path, document: Document, seen: list[Path]) -> None:
    resolved = path.resolve()
    if resolved in seen:
        document.issues.append(
            ConfigIssue(str(path), None, "", "", "included more than once (include loop?)")
        )
        return
    seen.append(resolved)
    node = _read_yaml(path)
    if node is None:
        return
    file_positions = Positions()
    data = _construct(node, str(path), (), file_positions)
    if not isinstance(data, dict):
        document.issues.append(ConfigIssue(str(path), 1, "", "", "the top level must be a mapping"))
        return
    includes = data.pop(INCLUDE_KEY, [])
    if isinstance(includes, str):
        includes = [includes]
    for key, value in data.items():
        _merge_section(path, key, value, file_positions, document)
    if not isinstance(includes, list):
        document.issues.append(
            ConfigIssue(str(path), None, INCLUDE_KEY, "", "include takes a file name or a list")
        )
        return
    for inc in includes:
        for inc_path in _files_of(path.parent / str(inc)):
            _merge_file(inc_path, document, seen)


def _merge_section(
    path: Path, key: str, value: Any, file_positions: Positions, document: Document
) -> None:
    merged, positions = document.data, document.positions
    file_line = file_positions.lines.get((key,))
    if key in LIST_SECTIONS and isinstance(value, list):
        offset = len(merged.setdefault(key, []))
        merged[key].extend(value)
        for sub, where in file_positions.lines.items():
            if sub[:1] == (key,) and len(sub) > 1 and isinstance(sub[1], int):
                positions.lines[(key, sub[1] + offset, *sub[2:])] = where
        if file_line:
            positions.lines.setdefault((key,), file_line)
    elif key in merged:
        first = positions.lines.get((key,))
        document.issues.append(
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
        for sub, where in file_positions.lines.items():
            if sub[:1] == (key,):
                positions.lines[sub] = where
