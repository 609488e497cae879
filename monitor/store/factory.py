"""Opens the store a configuration names; callers only ever see the :class:`Store` interface."""

from __future__ import annotations

import os
from pathlib import Path

from monitor.config.sections import Store as StoreConfig
from monitor.core.file_access import FileAccess
from monitor.store.base import Store
from monitor.store.sqlite_files import prepare_folder


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


def store_access(cfg: StoreConfig) -> FileAccess:
    """How the store's files are created: 0640 and 0750 with ``store.group``."""
    return FileAccess.for_group(cfg.group)


def open_store(cfg: StoreConfig, base_dir: Path | None = None, *, read_only: bool = False) -> Store:
    """Open (and create or migrate) the configured store; ``read_only``: open an existing
    store for reading only, as a user who may only read it can. Relative paths are taken
    from ``base_dir`` (the configuration file's folder) so that a service's working directory
    does not decide where GMP records land."""
    if cfg.backend == "sqlite":
        from monitor.store.sqlite import SQLiteStore

        path = sqlite_path(cfg, base_dir)
        access = None if read_only else store_access(cfg)
        if access is not None:
            prepare_folder(path, access)
        store = SQLiteStore(path, read_only=read_only, access=access)
        store.open()
        return store
    raise ValueError(f"unknown store backend {cfg.backend!r}")
