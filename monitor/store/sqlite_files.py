"""The store's file and its SQLite side files on disk: modes, group, and readable at rest.

The store is created ``0640`` in a ``0750`` folder with the configured group
(:class:`monitor.core.file_access.FileAccess`). SQLite creates the ``-wal`` and ``-shm`` files
itself with the store file's mode; they get the group too. A reader who may not write in the
folder (a member of the group running ``coldwatch verify``) can open a WAL store only if its
``-wal`` and ``-shm`` files exist, and SQLite deletes both when the last writer closes: so a
writable store's close leaves them behind, empty, with the store's mode and group.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from monitor.core.file_access import FileAccess
from monitor.store.base import StoreError

log = logging.getLogger(__name__)

SIDE_SUFFIXES = ("-wal", "-shm")


def side_files(path: Path) -> list[Path]:
    return [path.with_name(path.name + suffix) for suffix in SIDE_SUFFIXES]


def prepare_folder(path: Path, access: FileAccess) -> None:
    """The store's folder (the state directory), created ``0750`` with the group if missing."""
    try:
        access.make_dir(path.parent)
    except OSError as exc:
        raise StoreError(f"cannot create the folder of the store {path}: {exc.strerror}") from exc


def before_open(path: Path, read_only: bool) -> bool:
    """Whether opening the store will create it; a reader gets a clear refusal instead."""
    if read_only:
        check_readable(path)
        return False
    return not os.path.exists(path)  # noqa: PTH110 (False, not an error, in a closed folder)


def secure(path: Path, access: FileAccess, *, created: bool) -> None:
    """The store's file and side files, just opened by SQLite and before any record is
    written: exactly ``0640`` with the group if SQLite has just created the store, else
    narrowed to that. (Made by SQLite, not before it: a reader that opened an empty file first
    would keep the writer from switching it to WAL.)"""
    for file in (path, *side_files(path)):
        try:
            if created:
                access.claim(file)
            else:
                access.narrow(file)
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise StoreError(f"cannot set the group and mode of {file}: {exc.strerror}") from exc


def keep_side_files(path: Path, access: FileAccess) -> None:
    """After the last writer closed: empty side files, so that readers can open the store."""
    for side in side_files(path):
        try:
            access.create(side)
        except OSError as exc:  # the store is closed and intact; only readers are hampered
            log.warning("cannot leave %s for readers of the store: %s", side, exc.strerror)


def check_readable(path: Path) -> None:
    """A clear refusal before SQLite's "unable to open database file" (the caller names the
    store)."""
    try:
        path.stat()
    except FileNotFoundError:
        raise StoreError("there is no such file (the daemon creates it)") from None
    except OSError as exc:
        raise StoreError(f"cannot read it: {exc.strerror or exc}") from None
    if not os.access(path, os.R_OK):
        raise StoreError("cannot read it: permission denied")
