"""Reading the audit trail, shared by ``coldwatch audit`` and the console's audit page: the
query of a filter (checked, one meaning everywhere), the CSV writer, the text line, and the
changes of an entry for a compact diff.

CSV cells that a spreadsheet would take for a formula (starting with ``=``, ``+``, ``-``,
``@``, a tab or a carriage return) get a leading ``'``: a reason typed into an SMS must not run
in QA's spreadsheet.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, TextIO

from monitor.store.base import AuditEntry, AuditQuery

#: Entries exported at most unless told otherwise (``coldwatch audit --limit``).
DEFAULT_LIMIT: Final = 10_000
#: The longest person, equipment or action a filter takes.
MAX_FILTER_TEXT: Final = 200
COLUMNS: Final = (
    "seq", "at", "clock_synchronised", "action", "method", "person", "user_id", "os_user",
    "subject", "equipment", "reason", "old", "new", "detail",
)  # fmt: skip
_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")


class FilterError(ValueError):
    """A filter that selects nothing sensible (its message says what to change)."""


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """What a reader asks for: ``since <= at < until`` (UTC), a person (person id, web user id
    or OS user), equipment, and an action (exact, or a prefix ending in ``.``: ``alarm.``)."""

    since: datetime | None = None
    until: datetime | None = None
    person: str | None = None
    equipment: str | None = None
    action: str | None = None

    def __post_init__(self) -> None:
        for name in ("since", "until"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise FilterError(f"{name}: a time needs its zone")
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise FilterError(
                f"the time range is empty: 'from' ({self.since.isoformat()}) is not before "
                f"'until' ({self.until.isoformat()})"
            )
        for name in ("person", "equipment", "action"):
            value = getattr(self, name)
            if value is None:
                continue
            if len(value) > MAX_FILTER_TEXT:
                raise FilterError(f"{name}: at most {MAX_FILTER_TEXT} characters")
            if any(ord(c) < 32 for c in value):
                raise FilterError(f"{name}: no control characters")

    def query(
        self, limit: int, *, newest_first: bool = False, before_seq: int | None = None
    ) -> AuditQuery:
        """The store's query of this filter (at most ``limit`` entries; with ``before_seq``,
        only entries older than that one: the next page, stable while entries are added)."""
        return AuditQuery(
            since=self.since,
            until=self.until,
            person=self.person,
            equipment=self.equipment,
            action=self.action,
            limit=limit,
            newest_first=newest_first,
            before_seq=before_seq,
        )


def blank_is_none(text: str | None) -> str | None:
    """A filter field left empty filters nothing."""
    if text is None:
        return None
    text = text.strip()
    return text or None


def to_json(value: Any) -> str:
    return "" if value is None else json.dumps(value, sort_keys=True, ensure_ascii=False)


def csv_row(entry: AuditEntry) -> list[str]:
    sync = entry.clock_synchronised
    values = [
        str(entry.seq),
        entry.at.isoformat(),
        "" if sync is None else ("yes" if sync else "no"),
        entry.action,
        entry.method,
        entry.person or "",
        entry.user_id or "",
        entry.os_user or "",
        entry.subject or "",
        entry.equipment or "",
        entry.reason or "",
        to_json(entry.old),
        to_json(entry.new),
        to_json(entry.detail),
    ]
    return ["'" + v if v.startswith(_FORMULA_START) else v for v in values]


def write_csv(out: TextIO, entries: Iterable[AuditEntry]) -> None:
    """The export: a header row, then one row per entry (``\\r\\n`` line ends, as RFC 4180)."""
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for entry in entries:
        writer.writerow(csv_row(entry))


def who_of(entry: AuditEntry) -> str:
    who = entry.person or entry.user_id or entry.os_user or "nobody named"
    if entry.os_user and entry.os_user != who:
        who += f" (OS user {entry.os_user})"
    return who


def changes_of(entry: AuditEntry) -> list[dict[str, Any]]:
    """A configuration load's diff (``detail.changes``: path, old, new), or none."""
    found = (entry.detail or {}).get("changes")
    if not isinstance(found, list):
        return []
    return [c for c in found if isinstance(c, dict)]


def unattributed(entry: AuditEntry) -> bool:
    return (entry.detail or {}).get("attributed") is False


def text_line(entry: AuditEntry) -> str:
    """``#12 2026-03-01T12:00:00+00:00 alarm.acknowledged A1007 [freezer-07] by bob (sms):
    door closed``, then what changed."""
    where = f" [{entry.equipment}]" if entry.equipment else ""
    line = f"#{entry.seq} {entry.at.isoformat()} {entry.action} {entry.subject or '-'}{where}"
    line += f" by {who_of(entry)} via {entry.method}: {entry.reason or '(no reason given)'}"
    if unattributed(entry):
        line += " [UNATTRIBUTED]"
    if entry.old is not None or entry.new is not None:
        line += f"\n    {to_json(entry.old) or '-'} -> {to_json(entry.new) or '-'}"
    for change in changes_of(entry):
        line += (
            f"\n    {change.get('path')}: {to_json(change.get('old'))} -> "
            f"{to_json(change.get('new'))}"
        )
    return line
