"""Reading the YAML: one file, a directory of them, or ``include:`` lists, merged into one
document that remembers the file and line of every dotted path (for error messages).

Everything is bounded, so that no file can hang or exhaust the loader: only regular files of
at most :data:`MAX_FILE_BYTES` are read (a FIFO or ``/dev/zero`` is refused before it is
opened for reading), includes nest at most :data:`MAX_INCLUDE_DEPTH` deep, a document nests at
most :data:`MAX_DEPTH` levels and expands (YAML aliases counted each time they are used) to at
most :data:`MAX_VALUES` values. Each such file is an issue with its file and line, never a
traceback.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from monitor.config.issues import ConfigError, ConfigIssue, PathKey, dotted

LIST_SECTIONS = ("devices", "locations")
"""Sections that several files may each contribute items to; any other appears once."""
INCLUDE_KEY = "include"
MAX_FILE_BYTES = 1024 * 1024
MAX_INCLUDE_DEPTH = 8
MAX_DEPTH = 48
MAX_VALUES = 200_000
_MERGE_TAG = "tag:yaml.org,2002:merge"


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


def _stop(file: str, line: int | None, path: PathKey, message: str) -> _Stop:
    return _Stop([ConfigIssue(file, line, dotted(path), "", message)])


class _Budget:
    """How many more values the document may expand to (aliases count at every use)."""

    def __init__(self) -> None:
        self.left = MAX_VALUES


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
    budget = _Budget()
    try:
        for file in files:
            _merge_file(file, document, seen, budget, 0)
    except _Stop as exc:
        raise ConfigError(exc.issues + document.issues) from None
    if document.issues:
        raise ConfigError(document.issues)
    document.sources = [str(p) for p in seen]
    return document


def _construct(
    node: yaml.Node, file: str, path: PathKey, positions: Positions, budget: _Budget
) -> Any:
    line = node.start_mark.line + 1
    budget.left -= 1
    if budget.left < 0:
        message = f"the document expands to more than {MAX_VALUES:,} values (YAML aliases?)"
        raise _stop(file, line, path, message)
    if len(path) > MAX_DEPTH:
        raise _stop(file, line, path, f"nested more than {MAX_DEPTH} levels deep")
    positions.lines[path] = (file, line)
    if isinstance(node, yaml.MappingNode):
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key_line = key_node.start_mark.line + 1
            if key_node.tag == _MERGE_TAG:
                message = "YAML merge keys ('<<') are not supported: write the keys out"
                raise _stop(file, key_line, path, message)
            if not isinstance(key_node, yaml.ScalarNode):
                raise _stop(file, key_line, path, "a key must be a plain value")
            key = str(_scalar(key_node, file, path))
            if key in result:
                raise _stop(file, key_line, (*path, key), f"key '{key}' appears twice")
            positions.lines[(*path, key)] = (file, key_line)
            result[key] = _construct(value_node, file, (*path, key), positions, budget)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [
            _construct(item, file, (*path, i), positions, budget)
            for i, item in enumerate(node.value)
        ]
    return _scalar(node, file, path)


def _scalar(node: yaml.Node, file: str, path: PathKey) -> Any:
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or "not a value YAML's safe loader reads"
        raise _stop(file, node.start_mark.line + 1, path, f"invalid value: {problem}") from None
    except (ValueError, OverflowError) as exc:  # a date like 2024-13-01, a 5,000-digit number
        message = f"invalid value: {str(exc)[:120]}"
        raise _stop(file, node.start_mark.line + 1, path, message) from None
    finally:
        loader.dispose()


def _read_text(path: Path) -> str:
    """The file's text, if it is a regular UTF-8 file of a bounded size."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise _stop(str(path), None, (), f"cannot read: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise _stop(str(path), None, (), "not a regular file")
        data = handle.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise _stop(str(path), None, (), f"larger than {MAX_FILE_BYTES // 1024} KiB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise _stop(str(path), line, (), "not UTF-8 text") from None


def _check_depth(text: str, path: Path) -> None:
    """Refuse deep nesting before composing (PyYAML's composer recurses; its parser does not)."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                line = event.start_mark.line + 1 if event.start_mark else None
                raise _stop(str(path), line, (), f"nested more than {MAX_DEPTH} levels deep")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _read_yaml(path: Path) -> yaml.Node | None:
    text = _read_text(path)
    try:
        _check_depth(text, path)
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


def _merge_file(
    path: Path, document: Document, seen: list[Path], budget: _Budget, depth: int
) -> None:
    if depth > MAX_INCLUDE_DEPTH:
        message = f"includes nest more than {MAX_INCLUDE_DEPTH} deep (include loop?)"
        raise _stop(str(path), None, (), message)
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
    data = _construct(node, str(path), (), file_positions, budget)
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
            _merge_file(inc_path, document, seen, budget, depth + 1)


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
