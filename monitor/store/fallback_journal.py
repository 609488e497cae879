"""The fallback journal: what could not be written to the store, kept until it can be.

Paging never depends on the store being writable. When a record that must precede an action
(a page's intent, an acknowledgement) cannot be written because the disk is full, the database
is locked, read-only or failing, the action goes ahead and the record goes here instead: kept
in memory, and appended to a small file (ideally on another filesystem, e.g. systemd's
``RuntimeDirectory``) so that a crash before the store recovers does not lose it either. Once
the store accepts writes again, :meth:`FallbackJournal.replay` hands every entry, in order, to
the writer of its kind, which writes it marked as recorded late.

Everything is bounded: at most ``max_entries`` entries and ``max_bytes`` of file. What does not
fit is counted (``dropped``), never silently lost: the replay reports the count so that it is
recorded. Each line carries a CRC32 of its text, so a torn last line (a crash mid-write) or an
edited line is detected and counted (``corrupted``), never replayed as something else.
The file is one JSON object per line: ``<crc32 hex> {"kind": ..., "at": ..., "data": ...}``;
a replayed entry is followed by a ``{"replayed": 1}`` line, so that a crash in the middle of a
replay does not write an entry twice after the restart.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import zlib
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from monitor.core.file_access import FileAccess
from monitor.core.logs import RateLimiter

log = logging.getLogger(__name__)

MAX_ENTRIES = 10_000
MAX_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class JournalEntry:
    kind: str
    """Which writer replays it (``notification_log``, ``escalation_record``...)."""
    at: datetime
    """When the record was due to be written."""
    data: dict[str, Any]


Writer = Callable[[JournalEntry], None]
"""Writes one entry to the store, marked as recorded late; raises while the store refuses."""


class FallbackJournal:
    """``append`` never raises; ``replay`` writes what is pending once the store accepts it."""

    def __init__(
        self,
        path: Path | None,
        *,
        max_entries: int = MAX_ENTRIES,
        max_bytes: int = MAX_BYTES,
        files: FileAccess | None = None,
    ) -> None:
        self.path = path
        self.files = files or FileAccess()
        """The file is the store's: ``0640`` with its group."""
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.dropped = 0
        self.corrupted = 0
        self._pending: deque[JournalEntry] = deque()
        self._kinds: Counter[str] = Counter()
        self._file_bytes = 0
        self._lock = threading.Lock()
        self._limiter = RateLimiter(60.0)
        self.writers: dict[str, Writer] = {}
        if path is not None:
            self._load(path)

    def register(self, kind: str, writer: Writer) -> None:
        """Who replays entries of ``kind`` (each writer marks what it writes as late)."""
        self.writers[kind] = writer

    def __len__(self) -> int:
        return len(self._pending)

    def waiting(self, kind: str) -> bool:
        """Whether entries of ``kind`` wait: a writer that must keep its order queues behind."""
        return self._kinds[kind] > 0

    def pending(self) -> list[JournalEntry]:
        with self._lock:
            return list(self._pending)

    def append(self, kind: str, at: datetime, data: Mapping[str, Any]) -> bool:
        """Keep one entry (in memory, and in the file if it can be written); False if the
        journal is full and the entry was counted as dropped."""
        entry = JournalEntry(kind, at, dict(data))
        line = _line(entry)
        with self._lock:
            if len(self._pending) >= self.max_entries:
                self.dropped += 1
                self._warn("the fallback journal is full: an entry was dropped (counted)")
                return False
            self._pending.append(entry)
            self._kinds[kind] += 1
            self._write(line)
        return True

    def replay(self, writers: Mapping[str, Writer] | None = None) -> int:
        """Hand every pending entry, oldest first, to its kind's writer (``writers``, else the
        registered ones), until one refuses (the store is still unwritable: try again later).
        Returns how many were written; the file is emptied once nothing is pending."""
        writers = self.writers if writers is None else writers
        written = 0
        while True:
            with self._lock:
                if not self._pending:
                    self._truncate()
                    return written
                entry = self._pending[0]
            writer = writers.get(entry.kind)
            if writer is None:
                self._warn(f"no writer for journal entries of kind {entry.kind!r}: kept")
                return written
            try:
                writer(entry)
            except Exception as exc:
                self._warn(f"the store still refuses the journal's entries ({exc})")
                return written
            with self._lock:
                self._pending.popleft()
                self._kinds[entry.kind] -= 1
                if self._pending:
                    self._write(_marker())
            written += 1

    # --- the file ---------------------------------------------------------------------------

    def _write(self, line: bytes) -> None:
        if self.path is None or self._file_bytes + len(line) > self.max_bytes:
            return
        try:
            fd = self.files.open(self.path, os.O_WRONLY | os.O_APPEND)
            try:
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            self._warn(f"the fallback journal {self.path} cannot be written ({exc}): memory only")
            return
        self._file_bytes += len(line)

    def _truncate(self) -> None:
        if self.path is None or self._file_bytes == 0:
            return
        with contextlib.suppress(OSError):
            os.truncate(self.path, 0)
        self._file_bytes = 0

    def _load(self, path: Path) -> None:
        try:
            with path.open("rb") as handle:
                raw = handle.read(self.max_bytes + 1)
        except FileNotFoundError:
            return
        except OSError as exc:
            log.error("the fallback journal %s cannot be read: %s", path, exc)
            return
        self._file_bytes = len(raw)
        entries: list[JournalEntry] = []
        replayed = 0
        for line in raw.splitlines():
            parsed = _parse(line)
            if parsed is None:
                self.corrupted += 1
            elif isinstance(parsed, int):
                replayed += parsed
            else:
                entries.append(parsed)
        for entry in entries[replayed:]:
            if len(self._pending) < self.max_entries:
                self._pending.append(entry)
                self._kinds[entry.kind] += 1
            else:
                self.dropped += 1
        if self.corrupted:
            log.error("the fallback journal %s had %d unreadable lines", path, self.corrupted)

    def _warn(self, message: str) -> None:
        allowed, suppressed = self._limiter.allow(message[:40])
        if allowed:
            more = f" ({suppressed} similar not logged)" if suppressed else ""
            log.error("%s%s", message, more)


def _line(entry: JournalEntry) -> bytes:
    text = json.dumps(
        {"kind": entry.kind, "at": entry.at.isoformat(), "data": entry.data},
        separators=(",", ":"),
        sort_keys=True,
        default=str,
    )
    return f"{zlib.crc32(text.encode()):08x} {text}\n".encode()


def _marker() -> bytes:
    text = '{"replayed":1}'
    return f"{zlib.crc32(text.encode()):08x} {text}\n".encode()


def _parse(line: bytes) -> JournalEntry | int | None:
    """An entry, a count of replayed entries (a marker), or None for an unreadable line."""
    try:
        checksum, _, text = line.decode("utf-8").partition(" ")
        if int(checksum, 16) != zlib.crc32(text.encode()):
            return None
        obj = json.loads(text)
        if "replayed" in obj:
            return int(obj["replayed"])
        return JournalEntry(str(obj["kind"]), datetime.fromisoformat(obj["at"]), dict(obj["data"]))
    except (UnicodeDecodeError, ValueError, KeyError, TypeError):
        return None
