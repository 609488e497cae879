"""``coldwatch audit``: the audit trail, filtered by time, person, equipment and action, as
lines for the terminal or CSV for QA's review.

Read-only and without secrets: it opens the store for reading (as a member of the store's
group may) and reads none of the paging secrets or PINs. CSV cells that a spreadsheet would take
for a formula (starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return) get a
leading ``'``: a reason typed into an SMS must not run in QA's spreadsheet.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from typing import Any, Final

from monitor.app.cli_common import (
    EXIT_OK,
    load_or_exit,
    open_store_readonly,
    parse_time,
    with_config,
)
from monitor.store.base import AuditEntry, AuditQuery

#: Entries printed at most unless ``--limit`` says otherwise.
DEFAULT_LIMIT: Final = 10_000
COLUMNS: Final = (
    "seq", "at", "clock_synchronised", "action", "method", "person", "user_id", "os_user",
    "subject", "equipment", "reason", "old", "new", "detail",
)  # fmt: skip
_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")


def _json(value: Any) -> str:
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
        _json(entry.old),
        _json(entry.new),
        _json(entry.detail),
    ]
    return ["'" + v if v.startswith(_FORMULA_START) else v for v in values]


def text_line(entry: AuditEntry) -> str:
    """``#12 2026-03-01T12:00:00+00:00 alarm.acknowledged A1007 [freezer-07] by bob (sms):
    door closed``, then what changed."""
    who = entry.person or entry.user_id or entry.os_user or "nobody named"
    if entry.os_user and entry.os_user != who:
        who += f" (OS user {entry.os_user})"
    where = f" [{entry.equipment}]" if entry.equipment else ""
    line = f"#{entry.seq} {entry.at.isoformat()} {entry.action} {entry.subject or '-'}{where}"
    line += f" by {who} via {entry.method}: {entry.reason or '(no reason given)'}"
    detail = entry.detail or {}
    if detail.get("attributed") is False:
        line += " [UNATTRIBUTED]"
    if entry.old is not None or entry.new is not None:
        line += f"\n    {_json(entry.old) or '-'} -> {_json(entry.new) or '-'}"
    for change in detail.get("changes", []) if isinstance(detail.get("changes"), list) else []:
        line += (
            f"\n    {change.get('path')}: {_json(change.get('old'))} -> {_json(change.get('new'))}"
        )
    return line


def cmd_audit(args: argparse.Namespace) -> int:
    loaded = load_or_exit(args.config)  # reads no secret
    store = open_store_readonly(loaded, args.config)
    query = AuditQuery(
        since=args.since,
        until=args.until,
        person=args.person,
        equipment=args.equipment,
        action=args.action,
        limit=args.limit + 1,
    )
    try:
        entries = store.audit_entries(query)
    finally:
        store.close()
    more = len(entries) > args.limit
    entries = entries[: args.limit]
    if args.csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(COLUMNS)
        for entry in entries:
            writer.writerow(csv_row(entry))
    else:
        for entry in entries:
            print(text_line(entry))
        if not entries:
            print("No audit entries match.")
    if more:
        print(
            f"coldwatch: only the first {args.limit} entries: narrow with --since/--until or "
            "raise --limit",
            file=sys.stderr,
        )
    return EXIT_OK


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"'{text}' is not a positive whole number")
    return value


def add_parser(sub: Any) -> None:
    """Add ``audit`` to the ``coldwatch`` command's subparsers."""
    p = with_config(
        sub.add_parser(
            "audit",
            help="print the audit trail (who did what, when, why), or export it as CSV",
            description="Print the audit trail, oldest first: alarm commands from every path "
            "(cli, sms, voice, web), configuration loads with their diff, planned stops and "
            "restarts. Times are ISO 8601 in UTC; a time without a zone is taken as UTC. "
            "Reads no secret. `coldwatch verify` checks the trail's hash chain.",
        )
    )
    p.add_argument("--since", type=parse_time, metavar="T", help="first time (incl.)")
    p.add_argument("--until", type=parse_time, metavar="T", help="last time (excl.)")
    p.add_argument("--person", metavar="ID", help="a person, web user id or OS user")
    p.add_argument("--equipment", metavar="ID", help="e.g. freezer-07")
    p.add_argument(
        "--action",
        metavar="NAME",
        help="e.g. alarm.acknowledged, or a prefix ending in a dot: alarm., config., daemon.",
    )
    p.add_argument("--csv", action="store_true", help="CSV with a header row, for export")
    p.add_argument(
        "--limit",
        type=_positive,
        default=DEFAULT_LIMIT,
        metavar="N",
        help=f"at most N entries (default {DEFAULT_LIMIT})",
    )
    p.set_defaults(func=cmd_audit)
