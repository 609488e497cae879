"""``coldwatch rollup rebuild``: re-derive the per-minute roll-up from the raw readings.

The roll-up is derived data beside the records (:mod:`monitor.store.sqlite_rollup`); when
``coldwatch verify`` reports it drifted from the readings, this makes it again. It only writes
the roll-up, in short transactions, so it may run beside a running daemon: batches committed
meanwhile are folded in by the same catch-up.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from monitor.app.cli_common import EXIT_FAILED, EXIT_OK, base_dir, load_or_exit, with_config


def cmd_rollup_rebuild(args: argparse.Namespace) -> int:
    from monitor.store.base import StoreError
    from monitor.store.factory import open_store
    from monitor.store.sqlite import SQLiteStore

    loaded = load_or_exit(args.config)
    try:
        store = open_store(loaded.config.store, base_dir(args.config))
    except StoreError as exc:
        print(f"coldwatch: {exc}", file=sys.stderr)
        return EXIT_FAILED
    try:
        if not isinstance(store, SQLiteStore):  # pragma: no cover - the only backend
            print("coldwatch: this store keeps no roll-up", file=sys.stderr)
            return EXIT_FAILED
        rows = store.rebuild_rollup()
    except StoreError as exc:
        print(f"coldwatch: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        store.close()
    print(f"roll-up rebuilt from the readings: {rows} channel-minutes")
    return EXIT_OK


def add_parser(sub: Any) -> None:
    """Add ``rollup rebuild`` to the ``coldwatch`` command's subparsers."""
    p = sub.add_parser(
        "rollup",
        help="the per-minute roll-up the charts read (derived data)",
        description="The per-minute min/max/mean/count roll-up of every channel, derived "
        "from the raw readings and kept beside them, outside the hash chain.",
    )
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    rebuild = with_config(
        actions.add_parser(
            "rebuild",
            help="re-derive the roll-up from the raw readings",
            description="Empty the roll-up and derive it again from the raw readings (after "
            "`coldwatch verify` reported roll-up drift). Records are not touched. Safe beside "
            "a running daemon.",
        )
    )
    rebuild.set_defaults(func=cmd_rollup_rebuild)
