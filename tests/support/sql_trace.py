"""The statements a store's writer connection runs, and the ``synchronous`` of each commit."""

from __future__ import annotations

from monitor.store.sqlite import SQLiteStore

SYNC_LEVEL = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}


class Traced:
    """The statements the store's writer connection runs, from now on."""

    def __init__(self, store: SQLiteStore) -> None:
        self.writer = store._writer
        assert self.writer is not None
        self.statements: list[str] = []
        self.initial = self.level()
        self.writer.set_trace_callback(self.statements.append)

    def level(self) -> str:
        assert self.writer is not None
        return SYNC_LEVEL[self.writer.execute("PRAGMA synchronous").fetchone()[0]]

    def commits(self) -> list[tuple[str, list[str]]]:
        """Each commit: the ``synchronous`` in force, the kinds of the events it wrote."""
        level, kinds, out = self.initial, [], []
        for sql in self.statements:
            if sql.startswith("PRAGMA synchronous = "):
                level = sql.removeprefix("PRAGMA synchronous = ")
            elif sql.startswith("INSERT INTO events"):
                kinds.append(sql.split("VALUES (", 1)[1].split(", ")[2].strip("'"))
            elif sql == "COMMIT":
                out.append((level, kinds))
                kinds = []
        return out
