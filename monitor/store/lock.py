"""One daemon per store: an exclusive ``flock`` on ``<store>.lock``, held for the process's life.

Taken before anything is written or sent, so that a second ``coldwatch run`` on the same store
writes nothing and pages nothing: two daemons would store every reading twice and record a
false unclean restart. The kernel releases the lock when the process dies, however it dies, so
a crash never leaves a stale lock. The file holds the holder's pid and start time for the
refusal message; read-only commands never take it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from datetime import UTC, datetime
from pathlib import Path

from monitor.core.file_access import FileAccess
from monitor.store.base import StoreError

LOCK_SUFFIX = ".lock"
_MAX_READ = 4096


class StoreLocked(Exception):
    """Another process holds the store."""

    def __init__(self, store_file: Path, pid: int | None, started: str | None) -> None:
        self.store_file = store_file
        self.pid = pid
        self.started = started
        holder = f"pid {pid}" if pid is not None else "another process"
        since = f", running since {started}" if started else ""
        super().__init__(f"the store {store_file} is in use by coldwatch {holder}{since}")


def lock_path(store_file: Path) -> Path:
    return store_file.with_name(store_file.name + LOCK_SUFFIX)


class StoreLock:
    """``acquire()`` or :class:`StoreLocked`; ``release()`` at a clean stop (idempotent)."""

    def __init__(self, store_file: Path, access: FileAccess | None = None) -> None:
        self.store_file = store_file
        self.path = lock_path(store_file)
        self.access = access or FileAccess()
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, now: datetime | None = None) -> StoreLock:
        try:
            self.access.make_dir(self.path.parent)
            fd = self.access.open(self.path, os.O_RDWR)
        except OSError as exc:  # a folder we may not write, a group we are not in
            raise StoreError(f"cannot take the lock {self.path}: {exc.strerror}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise StoreLocked(self.store_file, *holder) from None
        except BaseException:
            os.close(fd)
            raise
        started = (now or datetime.now(UTC)).isoformat(timespec="seconds")
        record = json.dumps({"pid": os.getpid(), "started": started}).encode()
        # the holder's record only feeds a refusal message: a full disk must not stop the start
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.pwrite(fd, record + b"\n", 0)
        self._fd = fd
        return self

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            os.close(fd)  # closing the descriptor drops the flock


def _read_holder(fd: int) -> tuple[int | None, str | None]:
    try:
        data = json.loads(os.pread(fd, _MAX_READ, 0) or b"{}")
    except (OSError, ValueError):
        return None, None
    if not isinstance(data, dict):
        return None, None
    pid, started = data.get("pid"), data.get("started")
    return (pid if isinstance(pid, int) else None, started if isinstance(started, str) else None)
