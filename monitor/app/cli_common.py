"""What the ``coldwatch`` sub-commands share: their exit codes, the ``--config`` option, the
configuration loaded or the command ended with its issues, and the store opened to read it.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from monitor.app.config import ConfigError, LoadedConfig, config_folder, load
from monitor.store.base import Store, StoreError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2


def with_config(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``parser`` with the ``-c/--config`` option every command that reads a site needs."""
    parser.add_argument(
        "-c",
        "--config",
        required=True,
        metavar="FILE",
        help="configuration file, or a directory of .yaml files",
    )
    return parser


def load_or_exit(path: str, *, secrets: bool = False) -> LoadedConfig:
    """The configuration, or the command ends printing every issue with EXIT_CONFIG.

    Secrets are not read unless ``secrets`` (only the daemon's ``run`` asks): a read-only
    command must not need the paging secrets and PINs (:func:`monitor.app.config.load`)."""
    try:
        return load(path, secrets=secrets)
    except ConfigError as exc:
        for issue in exc.issues:
            print(issue, file=sys.stderr)
        raise SystemExit(EXIT_CONFIG) from None


def open_store_readonly(loaded: LoadedConfig, config_path: str) -> Store:
    """The store opened for reading only (as a member of its group may), or the command
    ends with one line saying why not and EXIT_FAILED."""
    from monitor.store.factory import open_store

    try:
        return open_store(loaded.config.store, base_dir(config_path), read_only=True)
    except StoreError as exc:
        print(f"coldwatch: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_FAILED) from None


def base_dir(config_path: str) -> Path:
    """Relative paths in a configuration are taken from its folder."""
    return config_folder(config_path)


def parse_time(text: str) -> datetime:
    """An ISO 8601 time option, in UTC (a time without a zone is taken as UTC)."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"'{text}' is not an ISO 8601 time (e.g. 2026-03-01T12:00:00Z)"
        ) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
