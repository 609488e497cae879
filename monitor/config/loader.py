"""Loading configuration: read the YAML, validate it into a model, then cross-check it.

Each part of coldwatch brings its own cross-checks (one small function per section) and
reports through one :class:`Checker`, so every issue of every section comes back at once,
each naming the file, line, dotted path and object. The application decides which root model
and which checks make up its configuration (``monitor.app.config``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from monitor.config.issues import (
    ConfigError,
    ConfigIssue,
    Describer,
    PathKey,
    describe,
    dotted,
    pydantic_message,
)
from monitor.config.yaml_source import Document, read_document

ModelT = TypeVar("ModelT", bound=BaseModel)

__all__ = ["Checker", "ConfigError", "ConfigIssue", "Document", "read_document"]


class Checker:
    """Collects the issues of one configuration document, each placed at its file and line."""

    def __init__(
        self, document: Document, describers: Mapping[str, Describer] | None = None
    ) -> None:
        self.document = document
        self.describers = dict(describers or {})
        self.issues: list[ConfigIssue] = []

    def where(self, path: PathKey) -> tuple[str, int | None]:
        file, line = self.document.positions.find(path)
        return file or self.document.main_file, line

    def add(self, path: PathKey, message: str) -> None:
        file, line = self.where(path)
        obj = describe(self.document.data, path, self.describers)
        self.issues.append(ConfigIssue(file, line, dotted(path), obj, message))

    def add_validation(self, exc: ValidationError, prefix: PathKey = ()) -> None:
        """Every error of a pydantic validation of the part of the document at ``prefix``."""
        for err in exc.errors():
            loc = tuple(
                p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))
            )
            path = (*prefix, *loc)
            file, line = self.where(path)
            obj = describe(self.document.data, path, self.describers)
            self.issues.append(ConfigIssue(file, line, dotted(path), obj, pydantic_message(err)))

    def duplicates(self, ids: list[tuple[PathKey, str]], what: str) -> None:
        """An issue for every id that appeared before, naming where it first appeared."""
        seen: dict[str, PathKey] = {}
        for path, ident in ids:
            if ident in seen:
                first_file, first_line = self.document.positions.find(seen[ident])
                self.add(
                    (*path, "id"),
                    f"duplicate {what} id '{ident}' (first at {first_file}:{first_line})",
                )
            else:
                seen[ident] = path

    def validate(self, model: type[ModelT]) -> ModelT:
        """The whole document as ``model``; :class:`ConfigError` with every error if not."""
        try:
            return model.model_validate(self.document.data)
        except ValidationError as exc:
            self.add_validation(exc)
            raise ConfigError(self.issues) from None

    def raise_if_any(self) -> None:
        if self.issues:
            raise ConfigError(self.issues)


def open_document(path: str | Path, describers: Mapping[str, Describer] | None = None) -> Checker:
    """Read the document at ``path`` and a checker for it (file-level problems raise)."""
    return Checker(read_document(path), describers)
