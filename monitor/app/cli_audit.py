"""``coldwatch audit``: the audit trail, filtered by time, person, equipment and action, as
lines for the terminal or CSV for QA's review.

Read-only and without secrets: it opens the store for reading (as a member of the store's
group may) and reads none of the paging secrets or PINs. The filter, the CSV writer (formula
cells escaped) and the text line are :mod:`monitor.app.audit_trail`'s, shared with the web
console's audit page, so both export the same bytes for the same filter.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from monitor.app.audit_trail import (
    DEFAULT_LIMIT,
    AuditFilter,
    FilterError,
    text_line,
    write_csv,
)
from monitor.app.cli_common import (
    EXIT_OK,
    load_or_exit,
    open_store_readonly,
    parse_time,
    with_config,
)


def cmd_audit(args: argparse.Namespace) -> int:
    try:
        query = AuditFilter(
            since=args.since,
            until=args.until,
            person=args.person,
            equipment=args.equipment,
            action=args.action,
        ).query(args.limit + 1)
    except FilterError as exc:
        args.parser.error(str(exc))  # exits 2
    loaded = load_or_exit(args.config)  # reads no secret
    store = open_store_readonly(loaded, args.config)
    try:
        entries = store.audit_entries(query)
    finally:
        store.close()
    more = len(entries) > args.limit
    entries = entries[: args.limit]
    if args.csv:
        write_csv(sys.stdout, entries)
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
    p.set_defaults(func=cmd_audit, parser=p)
