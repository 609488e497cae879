"""FileAccess never opens a file that exists to set its mode or group: closing a descriptor of a
file drops every POSIX lock the process holds on it, and SQLite's connections hold theirs on the
store, -wal and -shm. (Opening them did exactly that: another process took the store for unused,
reset the -shm under the daemon, and the daemon died of SIGBUS.)"""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path
from typing import Any

import pytest

from monitor.core.file_access import FileAccess
from monitor.store.sqlite import SQLiteStore


def test_an_existing_file_is_narrowed_without_being_opened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SQLiteStore(tmp_path / "cw.db")
    store.open()
    try:
        sides = [tmp_path / name for name in ("cw.db", "cw.db-wal", "cw.db-shm")]
        for side in sides:
            side.chmod(0o666)
        opened: list[str] = []
        real_open = os.open

        def spy(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
            fd = real_open(path, flags, *args, **kwargs)  # O_EXCL on an existing file: none
            opened.append(str(path))
            return fd

        monkeypatch.setattr(os, "open", spy)
        access = FileAccess()
        for side in sides:
            access.narrow(side)
            access.claim(side)
            access.create(side)
        monkeypatch.undo()
        assert opened == []
        assert [stat.S_IMODE(side.stat().st_mode) for side in sides] == [0o640] * 3
        # and the store's own connections still hold their locks: a writer elsewhere waits
        other = sqlite3.connect(tmp_path / "cw.db", timeout=0)
        try:
            with (
                store._write_transaction("held"),
                pytest.raises(sqlite3.OperationalError, match="locked"),
            ):
                other.execute("BEGIN IMMEDIATE")
        finally:
            other.close()
    finally:
        store.close()


def test_a_new_file_is_0640_whatever_the_umask(tmp_path: Path) -> None:
    previous = os.umask(0o077)
    try:
        FileAccess().create(tmp_path / "new")
        fd = FileAccess().open(tmp_path / "appended", os.O_WRONLY | os.O_APPEND)
        os.close(fd)
    finally:
        os.umask(previous)
    for name in ("new", "appended"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o640
