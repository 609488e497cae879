"""Counting what a fault cost, from the store file and from what the peers recorded.

The store is read with plain ``sqlite3`` (read-only), not through coldwatch, so that a bug in
coldwatch's own read path cannot hide a loss. The peers are the judges: the Modbus server's
served requests, the MQTT publisher's acknowledged numbers, the outbox's lines.

Readings. A polled channel is due once per interval; its rows may be values or bad-quality
rows (``comm_error``, ``stale``...), both count. A restart records the time coldwatch was not
running as one ``stale`` row per channel naming the gap (``downtime`` / ``unclean_restart``
event, ``channels: {channel: since}``): the slots inside such a named gap are accounted for.
Outside a named gap, two consecutive rows two intervals or more apart mean a due poll left no
row at all (rows are stamped when the poll starts, up to one interval late, so a shorter gap
proves nothing), and so does a poll that reached the device with no row for it: lost. A poll
that reached the device inside a named gap, with no row, is counted apart: it was taken within
the store's ``commit_interval`` before a SIGKILL (the documented durability bound) and the
record names the gap it fell in.

Pages. The escalation record's ``paged`` rows say what the escalator decided: the page key and
the people of each tier paged. Each (key, person) must be in the outbox at least once; more
than once is a duplicate (counted, allowed). A page that never arrived because its alarm was
acknowledged or returned to normal first (the escalator cancels those) is *withdrawn*, not lost.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from tests.faults.fault_report import FaultResult

#: Escalation record actions after which the escalator no longer sends a track's pages.
_CANCELLING = frozenset({"acknowledged", "paused", "closed", "stopped"})


@contextmanager
def read_only(db: Path) -> Iterator[sqlite3.Connection]:
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10.0)) as conn:
        conn.row_factory = sqlite3.Row
        yield conn


def seconds(us: int) -> float:
    return us / 1_000_000


# --- readings -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    ts: float
    """Seconds since the epoch (the store keeps microseconds)."""
    quality: str
    value: float | str | None


def channel_rows(db: Path, channel: str) -> list[Row]:
    """Every reading row of ``channel``, oldest first."""
    with read_only(db) as conn:
        found = conn.execute(
            "SELECT ts, quality, value FROM readings WHERE channel = ? ORDER BY ts, id", (channel,)
        ).fetchall()
    return [Row(seconds(r["ts"]), r["quality"], r["value"]) for r in found]


def named_gaps(db: Path) -> dict[str, list[tuple[float, float]]]:
    """Per channel, the gaps a restart named: (last row before it, the restart), seconds."""
    gaps: dict[str, list[tuple[float, float]]] = {}
    with read_only(db) as conn:
        events = conn.execute(
            "SELECT ts, data FROM events WHERE kind IN ('downtime', 'unclean_restart')"
        ).fetchall()
    for event in events:
        restart = seconds(event["ts"])
        data = json.loads(event["data"])
        for channel, since in data.get("channels", {}).items():
            start = _iso_seconds(since) if since else 0.0
            gaps.setdefault(channel, []).append((start, restart))
    return gaps


def _iso_seconds(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


@dataclass(frozen=True)
class ReadingCount:
    """One polled channel's due polls against its rows."""

    polls: int
    """Polls that reached the device."""
    lost: int
    """Due slots with no row at all, outside any named gap (holes between rows, and polls
    that reached the device but left no row)."""
    uncommitted: int
    """Polls that reached the device but left no row, inside a gap a restart named: taken
    within the store's ``commit_interval`` before a SIGKILL (the documented durability bound),
    and recorded as the time coldwatch was not running."""


def count_readings(
    served: Sequence[float],
    rows: Sequence[Row],
    interval: float,
    gaps: Iterable[tuple[float, float]],
) -> ReadingCount:
    """``served``: when a read of the channel reached the device (wall clock; the driver
    never retries, so each is one poll). A poll's row is stamped when the poll began, so it
    is looked for up to one interval before the answer."""
    spans = list(gaps)

    def named(start: float, end: float) -> bool:
        return any(s - 1e-3 <= start and end <= e + 1e-3 for s, e in spans)

    polls = sorted(served)
    stamps = sorted(row.ts for row in rows)
    unstored: list[float] = []
    uncommitted = 0
    i = 0
    for t in polls:
        while i < len(stamps) and stamps[i] < t - interval:
            i += 1
        if i < len(stamps) and stamps[i] <= t + 0.05:
            i += 1
        elif named(t, t):
            uncommitted += 1
        else:
            unstored.append(t)
    lost = 0
    for before, after in itertools.pairwise(stamps):
        if named(before, after):
            continue
        inside = [t for t in unstored if before < t <= after + interval]
        lost += max(int((after - before) / interval) - 1, len(inside), 0)
        unstored = [t for t in unstored if t not in inside]
    return ReadingCount(len(polls), lost + len(unstored), uncommitted)


def stored_numbers(db: Path, channel: str) -> Counter[int]:
    """How often each number was stored as a good value of ``channel``."""
    with read_only(db) as conn:
        found = conn.execute(
            "SELECT value FROM readings WHERE channel = ? AND quality = 'good'", (channel,)
        ).fetchall()
    return Counter(int(r["value"]) for r in found)


# --- pages ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PageCount:
    decided: int
    lost: int
    duplicated: int
    withdrawn: int


def outbox_pages(outbox: Path) -> Counter[tuple[str, str]]:
    """(notification key, person) of every complete line in the outbox."""
    if not outbox.exists():
        return Counter()
    found: Counter[tuple[str, str]] = Counter()
    for line in outbox.read_text(encoding="utf-8").splitlines(keepends=True):
        if line.endswith("\n"):
            page = json.loads(line)
            found[(page["notification"]["event_id"], page["to"]["id"])] += 1
    return found


def count_pages(db: Path, outbox: Path) -> PageCount:
    """The escalator's decisions (``paged`` rows) against the outbox's lines; a bundle's line
    delivers each page the ``bundled`` row lists."""
    with read_only(db) as conn:
        rows = conn.execute(
            "SELECT track, action, data FROM escalation_log ORDER BY seq"
        ).fetchall()
    delivered = outbox_pages(outbox)
    for row in rows:
        if row["action"] == "bundled":
            bundle = json.loads(row["data"])
            copies = delivered.pop((bundle["key"], bundle["person"]), 0)
            for track, page in bundle["members"]:
                delivered[(f"esc/{track}/p{page}", bundle["person"])] += copies
    decided = lost = duplicated = withdrawn = 0
    for i, row in enumerate(rows):
        if row["action"] != "paged":
            continue
        track = json.loads(row["data"])
        later = next((r["action"] for r in rows[i + 1 :] if r["track"] == row["track"]), None)
        for person in track["last_people"]:
            decided += 1
            copies = delivered[(track["last_key"], person)]
            if copies:
                duplicated += copies - 1
            elif later in _CANCELLING:
                withdrawn += 1
            else:
                lost += 1
    return PageCount(decided, lost, duplicated, withdrawn)


def paging_result(
    fault: str, folder: Path, *, readings_lost: int, crashes: int, note: str
) -> FaultResult:
    """A fault's figures, its pages counted from ``folder``'s store (``cw.db``) and outbox
    (``outbox.jsonl``), as :func:`~tests.faults.fault_daemon.write_config` and
    :func:`~tests.faults.fault_daemon.paging` lay them out."""
    pages = count_pages(folder / "cw.db", folder / "outbox.jsonl")
    withdrawn = f", {pages.withdrawn} withdrawn" if pages.withdrawn else ""
    return FaultResult(
        fault,
        readings_lost=readings_lost,
        pages_lost=pages.lost,
        pages_duplicated=pages.duplicated,
        crashes=crashes,
        note=f"{note}; {pages.decided} pages decided{withdrawn}",
    )
