"""Opens the store a configuration names; callers only ever see the :class:`Store` interface."""

from __future__ import annotations

import os
from pathlib import Path

from monitor.config.sections import Store as StoreConfig
from monitor.store.base import Store


def sqlite_path(cfg: StoreConfig, base_dir: Path | None = None) -> Path:
    """Where the SQLite store lives: ``store.path``, relative to ``base_dir`` if relative."""
    path = Path(cfg.path).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    return path


def fallback_journal_path(cfg: StoreConfig, base_dir: Path | None = None) -> Path:
    """Where the fallback journal lives (see :class:`StoreConfig`'s ``fallback_journal``)."""
    if cfg.fallback_journal:
        path = Path(cfg.fallback_journal).expanduser()
        return path if path.is_absolute() or base_dir is None else base_dir / path
    runtime = os.environ.get("RUNTIME_DIRECTORY", "").split(":")[0]
    if runtime:
        return Path(runtime) / "fallback.journal"
    store_file = sqlite_path(cfg, base_dir)
    return store_file.with_name(store_file.name + ".fallback")


def open_store(cfg: StoreConfig, base_dir: Path | None = None) -> Store:
    """Open (and create or migrate) the configured store. Relative paths are taken from
    ``base_dir`` (the configuration file's folder) so that a service's working directory
    does not decide where GMP records land."""
    if cfg.backend == "sqlite":
        from monitor.store.sqlite import SQLiteStore

        path = sqlite_path(cfg, base_dir)
        path.parent.mkdir(parents=True, exist_ok=True)
        store = SQLiteStore(path)
        store.open()
        return store
    raise ValueError(f"unknown store backend {cfg.backend!r}")
