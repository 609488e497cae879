"""The fallback journal: kept in memory and in a checksummed file, bounded, replayed in order
once the store accepts writes, never twice after a crash mid-replay, never silently dropped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.store.fallback_journal import FallbackJournal, JournalEntry

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _entries(journal: FallbackJournal) -> list[tuple[str, int]]:
    return [(e.kind, e.data["n"]) for e in journal.pending()]


def test_entries_survive_a_restart_and_replay_in_order(tmp_path: Path) -> None:
    path = tmp_path / "fallback.journal"
    journal = FallbackJournal(path)
    for n in range(3):
        assert journal.append("notification_log", T0 + timedelta(seconds=n), {"n": n})
    assert oct(path.stat().st_mode & 0o777) == oct(0o640)
    reopened = FallbackJournal(path)  # a crash before the store recovered
    assert _entries(reopened) == [
        ("notification_log", 0),
        ("notification_log", 1),
        ("notification_log", 2),
    ]
    assert reopened.pending()[1].at == T0 + timedelta(seconds=1)
    written: list[JournalEntry] = []
    assert reopened.replay({"notification_log": written.append}) == 3
    assert [e.data["n"] for e in written] == [0, 1, 2]
    assert len(reopened) == 0
    assert path.read_bytes() == b""  # emptied once nothing is pending
    assert len(FallbackJournal(path)) == 0


def test_replay_stops_at_the_first_refusal_and_resumes_later(tmp_path: Path) -> None:
    journal = FallbackJournal(tmp_path / "j")
    for n in range(4):
        journal.append("k", T0, {"n": n})
    taken: list[int] = []

    def store_full_after_two(entry: JournalEntry) -> None:
        if len(taken) == 2:
            raise OSError("database or disk is full")
        taken.append(entry.data["n"])

    assert journal.replay({"k": store_full_after_two}) == 2
    assert _entries(journal) == [("k", 2), ("k", 3)]
    # a crash now: the restarted journal holds only what was not written
    assert _entries(FallbackJournal(tmp_path / "j")) == [("k", 2), ("k", 3)]
    assert journal.replay({"k": lambda e: taken.append(e.data["n"])}) == 2
    assert taken == [0, 1, 2, 3]


def test_an_unknown_kind_is_kept_not_lost(tmp_path: Path) -> None:
    journal = FallbackJournal(None)
    journal.append("mystery", T0, {"n": 1})
    assert journal.replay({}) == 0
    assert _entries(journal) == [("mystery", 1)]


def test_bounded_and_the_overflow_is_counted(tmp_path: Path) -> None:
    journal = FallbackJournal(tmp_path / "j", max_entries=3)
    results = [journal.append("k", T0, {"n": n}) for n in range(5)]
    assert results == [True, True, True, False, False]
    assert journal.dropped == 2
    assert _entries(journal) == [("k", 0), ("k", 1), ("k", 2)]


def test_file_bytes_are_bounded_memory_still_keeps(tmp_path: Path) -> None:
    path = tmp_path / "j"
    journal = FallbackJournal(path, max_bytes=200)
    for n in range(5):
        journal.append("k", T0, {"n": n, "pad": "x" * 40})
    assert path.stat().st_size <= 200
    assert len(journal) == 5


def test_a_torn_or_edited_line_is_counted_not_replayed(tmp_path: Path) -> None:
    path = tmp_path / "j"
    journal = FallbackJournal(path)
    journal.append("k", T0, {"n": 1})
    journal.append("k", T0, {"n": 2})
    lines = path.read_bytes().splitlines(keepends=True)
    edited = lines[0].replace(b'"n":1', b'"n":7')
    path.write_bytes(edited + lines[1] + b'0badc0de {"kind": "k", "at"')  # and a torn tail
    reopened = FallbackJournal(path)
    assert reopened.corrupted == 2
    assert _entries(reopened) == [("k", 2)]


def test_an_unwritable_file_keeps_entries_in_memory(tmp_path: Path) -> None:
    journal = FallbackJournal(tmp_path / "missing-folder" / "j")
    assert journal.append("k", T0, {"n": 1})
    assert _entries(journal) == [("k", 1)]


def test_an_entry_kept_in_memory_only_never_shifts_the_replay_markers(tmp_path: Path) -> None:
    path = tmp_path / "j"
    journal = FallbackJournal(path, max_bytes=400)
    journal.append("k", T0, {"n": 1})
    journal.append("k", T0, {"n": 2, "pad": "x" * 500})  # too big for the file: memory only
    journal.append("k", T0, {"n": 3})
    journal.append("k", T0, {"n": 4})
    assert journal.memory_only == 1
    assert journal.replay({"k": lambda e: None}, limit=2) == 2  # then the process dies
    assert _entries(FallbackJournal(path)) == [("k", 3), ("k", 4)]


def test_a_torn_tail_is_cut_off_and_the_next_entry_survives(tmp_path: Path) -> None:
    path = tmp_path / "j"
    FallbackJournal(path).append("k", T0, {"n": 1})
    with path.open("ab") as handle:
        handle.write(b'0badc0de {"kind":"k","at"')  # a crash in the middle of a write
    reopened = FallbackJournal(path)
    assert reopened.corrupted == 1
    reopened.append("k", T0, {"n": 2})
    assert _entries(FallbackJournal(path)) == [("k", 1), ("k", 2)]


def test_a_refusal_that_will_not_pass_is_skipped_not_blocking(tmp_path: Path) -> None:
    journal = FallbackJournal(tmp_path / "j")
    for n in range(3):
        journal.append("k", T0, {"n": n})
    journal.append("orphan", T0, {"n": 9})  # its writer is gone (configuration changed)
    journal.append("k", T0, {"n": 3})
    taken: list[int] = []

    def writer(entry: JournalEntry) -> None:
        if entry.data["n"] == 1:
            raise ValueError("a value the store cannot keep")
        taken.append(entry.data["n"])

    assert journal.replay({"k": writer}) == 3
    assert taken == [0, 2, 3]
    assert journal.failed == 1
    assert _entries(journal) == [("orphan", 9)]
    assert _entries(FallbackJournal(tmp_path / "j")) == [("orphan", 9)]


def test_replay_takes_at_most_its_limit(tmp_path: Path) -> None:
    journal = FallbackJournal(None)
    for n in range(5):
        journal.append("k", T0, {"n": n})
    assert journal.replay({"k": lambda e: None}, limit=2) == 2
    assert len(journal) == 3
