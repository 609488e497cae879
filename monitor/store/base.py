"""The store interface. Callers never see SQL, so a PostgreSQL backend can replace SQLite.

Every call is synchronous and thread-safe; the daemon drives writes from one writer thread
(``monitor.store.writer.StoreWriter``) so the event loop never waits on disk.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from monitor.core.model import Event, Reading


class StoreError(Exception):
    """The store could not do what was asked (disk full, corrupt file, locked database)."""


@dataclass(frozen=True, slots=True)
class BatchInfo:
    seq: int
    readings: int
    events: int
    hash: str


@dataclass(frozen=True, slots=True)
class ConfigVersion:
    id: int
    loaded_at: datetime
    sha256: str
    sources: list[str]
    effective: dict[str, Any]
    person: str | None


@dataclass(frozen=True, slots=True)
class VerifyResult:
    ok: bool
    batches: int
    readings: int
    events: int
    first_bad_batch: int | None = None
    problem: str | None = None
    alarm_records: int = 0
    signatures: int = 0
    """Electronic signatures checked against the records they sign."""
    rollup_minutes: int = 0
    """Rows of the per-minute roll-up (derived data) checked against the readings."""
    rollup_drift: str | None = None
    """What differs between the roll-up and the readings: derived-data drift, not a broken
    record (``ok`` stays true); ``coldwatch rollup rebuild`` re-derives it."""


@dataclass(frozen=True, slots=True)
class AlarmRecord:
    """One row of the alarm history: who (``person``), when (``at``; ``recorded_at``),
    through what (``via``), why (``comment``), and the alarm's state after it (``data``).

    ``seq`` is None until the store has appended it.
    """

    recorded_at: datetime
    at: datetime
    key: str
    action: str
    state: str
    code: str | None = None
    previous: str | None = None
    announce: str | None = None
    late: bool = False
    person: str | None = None
    via: str | None = None
    comment: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    seq: int | None = None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One entry of the audit trail (``migrations/0004_audit.sql``): who (``person``,
    ``user_id``, ``os_user``, and the ``method``: cli, sms, voice, web, http, system), what
    (``action`` on ``subject``, of ``equipment``), when (``at``, UTC; ``clock_synchronised``:
    the kernel's NTP state then, None when unknown), why (``reason``), and the values before
    and after (JSON-ready; secrets are redacted again when written). ``seq`` is None until
    the store has appended it."""

    at: datetime
    action: str
    method: str
    person: str | None = None
    user_id: str | None = None
    os_user: str | None = None
    subject: str | None = None
    equipment: str | None = None
    reason: str | None = None
    old: Any = None
    new: Any = None
    detail: dict[str, Any] | None = None
    clock_synchronised: bool | None = None
    seq: int | None = None


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Which audit entries to read: ``since <= at < until``, of ``person`` (a person, user id
    or OS user), ``equipment`` and ``action`` (exact, or a prefix ending in ``.``:
    ``alarm.``), before the entry ``before_seq`` (a page's next page), oldest first (or newest
    first), at most ``limit``."""

    since: datetime | None = None
    until: datetime | None = None
    person: str | None = None
    equipment: str | None = None
    action: str | None = None
    limit: int | None = None
    newest_first: bool = False
    before_seq: int | None = None


class Store(ABC):
    clock_synchronised: Callable[[], bool | None] | None = None
    """The kernel's NTP state, recorded with the audit entries of alarm commands (the daemon
    sets it; None: unknown)."""

    @abstractmethod
    def open(self) -> None:
        """Create or migrate the schema; safe to call on an existing store."""

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def append(self, readings: Sequence[Reading], events: Sequence[Event] = ()) -> BatchInfo | None:
        """Commit readings and events in one transaction extending the hash chain.

        Returns None when both are empty. Raises :class:`StoreError` on failure; then nothing
        of the batch was written and the caller still holds it.
        """

    def append_durable(
        self, readings: Sequence[Reading], events: Sequence[Event] = ()
    ) -> BatchInfo | None:
        """:meth:`append`, on disk (fsynced) when it returns, whatever the store's usual
        durability: the daemon's ``daemon_started`` marker, which the next start reads to tell
        a power loss from a clean stop. A store whose every commit is durable needs no more."""
        return self.append(readings, events)

    def durable_from_now(self) -> None:
        """Every later commit on disk when it returns (the daemon calls it as it stops, before
        its ``daemon_stopped`` marker). A store whose every commit is durable needs no more."""
        return

    @abstractmethod
    def record_config(
        self,
        effective_json: str,
        sha256: str,
        sources: Sequence[str],
        at: datetime,
        person: str | None,
    ) -> int:
        """Keep the effective configuration (secrets already redacted) beside the records.

        Returns the id of the version; loading the same configuration again reuses it."""

    @abstractmethod
    def config_versions(self) -> list[ConfigVersion]: ...

    @abstractmethod
    def readings(
        self,
        channel: str,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int | None = None,
    ) -> list[Reading]:
        """Readings of one channel with ``start <= ts < end``, oldest first."""

    @abstractmethod
    def latest(self, channels: Sequence[str]) -> dict[str, Reading]:
        """The newest reading of each channel that has one."""

    @abstractmethod
    def events(
        self,
        start: datetime | None = None,
        end: datetime | None = None,
        kinds: Sequence[str] | None = None,
        source: str | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[Event]:
        """Events with ``start <= ts < end``, oldest first (newest first if asked: with
        ``limit=1``, the latest event of those kinds)."""

    @abstractmethod
    def append_alarm_records(
        self,
        records: Sequence[AlarmRecord],
        timers: Mapping[str, Mapping[str, Any] | None] | None = None,
    ) -> list[AlarmRecord]:
        """Append to the alarm history (append-only, its own hash chain) and replace the
        checkpointed condition timers of the given keys (None removes a key's), in one
        transaction. Returns the records with their ``seq``. Raises :class:`StoreError`;
        then nothing was written."""

    @abstractmethod
    def alarm_records(
        self,
        *,
        after_seq: int = 0,
        key: str | None = None,
        code: str | None = None,
        since: datetime | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[AlarmRecord]:
        """Alarm history rows with ``seq > after_seq`` (and of ``key``, of ``code``,
        recorded at or after ``since``), oldest first unless asked otherwise."""

    @abstractmethod
    def alarm_latest(self) -> dict[str, AlarmRecord]:
        """The newest alarm history row of every key: what a restarting engine resumes."""

    @abstractmethod
    def alarm_timers(self) -> dict[str, dict[str, Any]]:
        """The checkpointed condition timers, by alarm key."""

    @abstractmethod
    def append_audit(self, entries: Sequence[AuditEntry]) -> list[AuditEntry]:
        """Append to the audit trail (append-only, hash-chained) in one transaction; returns
        the entries with their ``seq``. Raises :class:`StoreError`; then nothing was written.
        Alarm commands need no call: :meth:`append_alarm_records` writes their entries in its
        own transaction."""

    @abstractmethod
    def audit_entries(self, query: AuditQuery) -> list[AuditEntry]:
        """The audit entries ``query`` selects, oldest first."""

    @abstractmethod
    def verify(self) -> VerifyResult:
        """Recompute the hash chain; name the first altered or missing batch."""

    @abstractmethod
    def purge_before(self, before: datetime, person: str, reason: str) -> int:
        """The only way records leave: a logged retention purge of whole batches older than
        ``before``. Returns how many readings were removed; the purge itself is an event."""
