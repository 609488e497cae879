"""Each signed Twilio request is taken once, across restarts.

A Twilio signature carries no timestamp: a request captured once (from a proxy's log, on the
way between the proxy and the listener) stays valid forever. Replayed, a wrong-PIN reply
would count towards the lockout again and again and lock its person out. So every signed
request is remembered by its key (an SMS by its ``MessageSid``; a key press by its
``CallSid``, gather step and try; a status callback by its SID and status), and a key seen
before is refused.

The memory survives a restart in an append-only journal beside the store: one line per key
(the first 128 bits of its SHA-256, in hex), fsynced before the request is acted on. It is
bounded by two generations: when the current file holds ``capacity / 2`` keys it becomes
``<name>.1`` (replacing the older one) and a new file starts, so at most ``capacity`` keys are
kept in memory and on disk, the newest. A line that is not a key (a write torn by a crash) is
skipped. If the journal cannot be written (a full disk) the key is still remembered in memory
and the request still served: an acknowledgement never waits for the disk.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from pathlib import Path
from typing import IO

from monitor.core.file_access import FileAccess
from monitor.core.logs import RateLimiter

log = logging.getLogger("alarms.ack")

CAPACITY = 200_000
_LINE = re.compile(r"^[0-9a-f]{32}$")


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()[:32]


class ReplayGuard:
    """``open()`` reads the journal back; ``first_time(key)`` says whether ``key`` is new
    (and remembers it); ``close()``. ``path`` None: in memory only."""

    def __init__(
        self, path: Path | None, capacity: int = CAPACITY, files: FileAccess | None = None
    ) -> None:
        self.path = path
        self.files = files or FileAccess()  # 0640, the store's group
        self.half = max(1, capacity // 2)
        self._current: set[str] = set()
        self._previous: set[str] = set()
        self._file: IO[str] | None = None
        self._complaints = RateLimiter(60.0)

    @property
    def older(self) -> Path | None:
        return None if self.path is None else self.path.with_name(self.path.name + ".1")

    def open(self) -> None:
        if self.path is None:
            return
        assert self.older is not None
        self._previous = _read(self.older, self.half)
        self._current = _read(self.path, self.half)
        if len(self._current) >= self.half:
            self._rotate()
        else:
            self._file = self._append()

    def close(self) -> None:
        file, self._file = self._file, None
        if file is not None:
            file.close()

    def __len__(self) -> int:
        return len(self._current) + len(self._previous)

    def first_time(self, key: str) -> bool:
        digest = _digest(key)
        if digest in self._current or digest in self._previous:
            return False
        self._current.add(digest)
        self._write(digest)
        if len(self._current) >= self.half:
            self._rotate()
        return True

    def _write(self, digest: str) -> None:
        if self.path is None:
            return
        try:
            if self._file is None:
                self._file = self._append()
            self._file.write(digest + "\n")
            self._file.flush()
            os.fsync(self._file.fileno())
        except OSError as exc:
            self._complain(f"cannot be written ({exc.strerror or exc}); remembered in memory")
            self.close()

    def _rotate(self) -> None:
        self._previous, self._current = self._current, set()
        if self.path is None:
            return
        assert self.older is not None
        self.close()
        try:
            self.path.replace(self.older)
            self._file = self._append()
        except OSError as exc:
            self._complain(f"cannot be rotated ({exc.strerror or exc})")

    def _append(self) -> IO[str]:
        assert self.path is not None
        fd = self.files.open(self.path, os.O_WRONLY | os.O_APPEND)
        return os.fdopen(fd, "a", encoding="ascii")

    def _complain(self, what: str) -> None:
        allowed, suppressed = self._complaints.allow("journal")
        if allowed:
            more = f" ({suppressed} more not logged)" if suppressed else ""
            log.error("the Twilio replay journal %s %s%s", self.path, what, more)


def _read(path: Path, limit: int) -> set[str]:
    """The keys in ``path`` (at most ``limit``, the last ones); none if it does not exist."""
    try:
        with path.open("r", encoding="ascii", errors="replace") as handle:
            keys = [line.strip() for line in handle if _LINE.match(line.strip())]
    except FileNotFoundError:
        return set()
    return set(keys[-limit:])
