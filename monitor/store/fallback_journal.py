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
a replayed entry is followed by a ``{"replayed": "<its line's crc32>"}`` line, so that a crash
in the middle of a replay does not write an entry twice after the restart.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
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
from monitor.store.base import StoreError

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


#: What a writer raises while the store still refuses writes: try again later.
TRANSIENT = (StoreError, sqlite3.Error, OSError)

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
        """Entries refused because the journal was full."""
        self.memory_only = 0
        """Entries kept in memory only (the file was full or could not be written): lost if
        the process dies before the store takes them."""
        self.failed = 0
        """Entries the store refused for a reason that will not pass (logged, skipped)."""
        self.corrupted = 0
        self._pending: deque[tuple[JournalEntry, str | None]] = deque()
        """Each entry, and its line's checksum if the line is in the file (what a replay
        marker names)."""
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
            return [entry for entry, _ in self._pending]

    def append(self, kind: str, at: datetime, data: Mapping[str, Any]) -> bool:
        """Keep one entry (in memory, and in the file if it can be written); False if the
        journal is full and the entry was counted as dropped."""
        entry = JournalEntry(kind, at, dict(data))
        line, checksum = _line(entry)
        with self._lock:
            if len(self._pending) >= self.max_entries:
                self.dropped += 1
                self._warn("the fallback journal is full: an entry was dropped (counted)")
                return False
            in_file = self._write(line)
            if not in_file:
                self.memory_only += 1
            self._pending.append((entry, checksum if in_file else None))
            self._kinds[kind] += 1
        return True

    def replay(self, writers: Mapping[str, Writer] | None = None, limit: int | None = None) -> int:
        """Hand pending entries, oldest first, to their kind's writer (``writers``, else the
        registered ones), at most ``limit`` of them. A store that still refuses (StoreError,
        an SQLite or OS error) stops the replay until the next call; an entry it refuses for
        another reason is logged, counted in ``failed`` and skipped, so that it never blocks
        what comes after it; entries of a kind without a writer are kept and passed over.
        Returns how many were written; the file is emptied once nothing is pending."""
        writers = self.writers if writers is None else writers
        written = 0
        index = 0
        while limit is None or written < limit:
            with self._lock:
                if index >= len(self._pending):
                    if not self._pending:
                        self._truncate()
                    return written
                entry, checksum = self._pending[index]
            writer = writers.get(entry.kind)
            if writer is None:
                self._warn(f"no writer for journal entries of kind {entry.kind!r}: kept")
                index += 1
                continue
            try:
                writer(entry)
            except TRANSIENT as exc:
                self._warn(f"the store still refuses the journal's entries ({exc})")
                return written
            except Exception as exc:
                self.failed += 1
                log.error(
                    "a %s entry of the fallback journal (due %s) cannot be stored and is "
                    "skipped: %s",
                    entry.kind,
                    entry.at.isoformat(),
                    exc,
                )
            else:
                written += 1
            with self._lock:
                del self._pending[index]
                self._kinds[entry.kind] -= 1
                if checksum is not None and self._pending:
                    self._write(_marker(checksum))
        return written

    # --- the file ---------------------------------------------------------------------------

    def _write(self, line: bytes) -> bool:
        """Append ``line`` whole, or not at all (a short write is cut back off)."""
        if self.path is None or self._file_bytes + len(line) > self.max_bytes:
            return False
        try:
            fd = self.files.open(self.path, os.O_WRONLY | os.O_APPEND)
            try:
                written = os.write(fd, line)
                if written != len(line):
                    os.ftruncate(fd, self._file_bytes)
                    raise OSError(f"short write ({written} of {len(line)} bytes)")
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.truncate(self.path, self._file_bytes)
            self._warn(f"the fallback journal {self.path} cannot be written ({exc}): memory only")
            return False
        self._file_bytes += len(line)
        return True

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
        whole = raw[: raw.rfind(b"\n") + 1]  # a line torn by a crash is cut off
        if len(whole) != len(raw):
            self.corrupted += 1
            with contextlib.suppress(OSError):
                os.truncate(path, len(whole))
        self._file_bytes = len(whole)
        entries: list[tuple[JournalEntry, str]] = []
        replayed: Counter[str] = Counter()
        for line in whole.splitlines():
            parsed = _parse(line)
            if parsed is None:
                self.corrupted += 1
            elif isinstance(parsed, str):
                replayed[parsed] += 1
            else:
                entries.append(parsed)
        for entry, checksum in entries:
            if replayed[checksum] > 0:
                replayed[checksum] -= 1
            elif len(self._pending) < self.max_entries:
                self._pending.append((entry, checksum))
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


def _line(entry: JournalEntry) -> tuple[bytes, str]:
    """The entry's line, and its checksum (which names it in a replay marker)."""
    text = json.dumps(
        {"kind": entry.kind, "at": entry.at.isoformat(), "data": entry.data},
        separators=(",", ":"),
        sort_keys=True,
        default=str,
    )
    checksum = f"{zlib.crc32(text.encode()):08x}"
    return f"{checksum} {text}\n".encode(), checksum


def _marker(checksum: str) -> bytes:
    text = json.dumps({"replayed": checksum}, separators=(",", ":"))
    return f"{zlib.crc32(text.encode()):08x} {text}\n".encode()


def _parse(line: bytes) -> tuple[JournalEntry, str] | str | None:
    """An entry with its checksum, the checksum a replay marker names, or None for an
    unreadable line."""
    try:
        checksum, _, text = line.decode("utf-8").partition(" ")
        if int(checksum, 16) != zlib.crc32(text.encode()):
            return None
        obj = json.loads(text)
        if "replayed" in obj:
            return str(obj["replayed"])
        data = dict(obj["data"])
        return JournalEntry(str(obj["kind"]), datetime.fromisoformat(obj["at"]), data), checksum
    except (UnicodeDecodeError, ValueError, KeyError, TypeError):
        return None
