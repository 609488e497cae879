"""The ``coldwatch`` command line (the alarm commands are in :mod:`monitor.app.cli_alarms`)."""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from monitor.app.cli_alarms import add_parsers as add_alarm_parsers
from monitor.app.cli_audit import add_parser as add_audit_parser
from monitor.app.cli_common import (
    EXIT_CONFIG,
    EXIT_FAILED,
    EXIT_OK,
    base_dir,
    load_or_exit,
    open_store_readonly,
    parse_time,
    with_config,
)
from monitor.app.cli_daemon import add_parsers as add_daemon_parsers
from monitor.app.cli_help import document_exit_codes, run_printing
from monitor.app.cli_reload import add_parser as add_reload_parser
from monitor.app.cli_rollup import add_parser as add_rollup_parser
from monitor.app.cli_users import add_parsers as add_user_parsers
from monitor.app.config import ConfigError, load
from monitor.core.display import format_value
from monitor.core.model import Reading

# --- commands -------------------------------------------------------------------------------


def cmd_check_config(args: argparse.Namespace) -> int:
    try:
        # --explain shows rules, reads no secret: plain check-config checks those
        loaded = load(args.config, secrets=not (args.without_secrets or args.explain))
    except ConfigError as exc:
        for issue in exc.issues:
            print(issue)
        return EXIT_CONFIG
    if args.explain is not None:
        from monitor.app.cli_explain import UnknownUnit, explain_unit

        try:
            print(explain_unit(loaded.config, args.explain))
        except UnknownUnit as exc:
            print(f"coldwatch: {exc}", file=sys.stderr)
            return EXIT_CONFIG
        return EXIT_OK
    if args.verbose:
        cfg = loaded.config
        print(
            f"site {cfg.site.id}: {len(cfg.devices)} devices, {len(cfg.channels())} channels, "
            f"config sha256 {loaded.sha256}"
        )
    print("ok")
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    from monitor.app.daemon import Daemon, run_until_signalled
    from monitor.app.restart import after_stop
    from monitor.app.web.console import WebListenError
    from monitor.core import logs
    from monitor.core.file_access import set_umask
    from monitor.store.base import StoreError
    from monitor.store.lock import StoreLocked

    loaded = load_or_exit(args.config, secrets=True)
    logs.configure(args.log_level or loaded.config.logging.level, loaded.config.logging.format)
    set_umask()  # nothing the daemon or a library creates is readable outside its group
    try:
        daemon = Daemon(loaded, base_dir=base_dir(args.config), config_path=Path(args.config))
    except (StoreLocked, StoreError, WebListenError) as exc:
        print(f"coldwatch: not started: {exc}", file=sys.stderr)
        return EXIT_FAILED
    stopped = asyncio.run(run_until_signalled(daemon))
    return after_stop(stopped, supervised=args.supervised)


def cmd_verify(args: argparse.Namespace) -> int:
    """The store's chain, then every side log in its file (notification log, escalation
    record...): a line each; EXIT_FAILED if any of them has a problem."""
    import sqlite3

    from monitor.store.factory import sqlite_path
    from monitor.store.side_chain_verify import verify_file

    loaded = load_or_exit(args.config)
    store = open_store_readonly(loaded, args.config)
    try:
        result = store.verify()
    finally:
        store.close()
    if result.ok:
        print(
            f"ok: {result.batches} batches, {result.readings} readings, {result.events} events; "
            "hash chain intact"
        )
        if result.signatures:
            print(f"electronic signatures: {result.signatures} bound to the records they sign")
    else:
        print(f"FAILED: {result.problem}")  # the problem names its table and batch or row
    ok = result.ok
    store_cfg = loaded.config.store
    if store_cfg.backend == "sqlite":
        path = sqlite_path(store_cfg, base_dir(args.config))
        try:
            checks = verify_file(path)
        except sqlite3.Error as exc:
            print(f"side logs: FAILED: cannot read them in {path}: {exc}")
            return EXIT_FAILED
        for check in checks:
            print(check.line())
            ok = ok and check.ok
    if result.ok and result.rollup_drift:  # derived data: the records themselves are intact
        print(
            f"roll-up (derived data, not a record): DRIFT: {result.rollup_drift}; "
            "re-derive it with `coldwatch rollup rebuild`"
        )
        ok = False
    elif result.ok:
        print(f"roll-up (derived data): {result.rollup_minutes} channel-minutes equal the readings")
    return EXIT_OK if ok else EXIT_FAILED


def _reading_row(r: Reading) -> dict[str, object]:
    return {
        "channel": r.channel,
        "ts": r.ts.isoformat(),
        "value": r.value,
        "quality": r.quality.value,
        "flags": r.flags,
        "detail": r.detail,
    }


def cmd_readings(args: argparse.Namespace) -> int:
    loaded = load_or_exit(args.config)
    channels = loaded.config.channels()
    if args.channel not in channels:
        print(
            f"unknown channel '{args.channel}'; channels: {', '.join(sorted(channels))}",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    store = open_store_readonly(loaded, args.config)
    try:
        rows = store.readings(args.channel, args.start, args.end, args.limit)
    finally:
        store.close()
    if args.format == "json":
        json.dump([_reading_row(r) for r in rows], sys.stdout, indent=1)
        print()
    else:
        writer = csv.DictWriter(
            sys.stdout, ["channel", "ts", "value", "quality", "flags", "detail"]
        )
        writer.writeheader()
        decimals = channels[args.channel][1].decimals  # what QA exports: as shown on screen
        for r in rows:
            writer.writerow({**_reading_row(r), "value": format_value(r.value, decimals)})
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    from monitor.app.overview import render_overview, site_overview
    from monitor.app.status import device_status, render_status
    from monitor.store.sqlite import SQLiteStore

    loaded = load_or_exit(args.config)
    store = open_store_readonly(loaded, args.config)
    now = datetime.now(UTC)
    try:
        statuses = device_status(loaded, store, now)
        # the same function as the console's overview page, on the same store
        overview = None
        if isinstance(store, SQLiteStore):
            overview = site_overview(loaded.config, store, now)
    finally:
        store.close()
    if args.format == "json":
        if args.overview:
            json.dump(overview.to_json() if overview else None, sys.stdout, indent=1)
        else:
            json.dump([s.as_dict() for s in statuses], sys.stdout, indent=1, default=str)
        print()
    elif args.overview:
        print(render_overview(overview) if overview else "no overview: the store is not SQLite")
    else:
        print(render_status(statuses))
        if overview is not None:
            print()
            print(render_overview(overview))
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from monitor.app.demo import run_demo
    from monitor.app.demo_data import DemoDirError
    from monitor.core import logs
    from monitor.core.file_access import set_umask
    from monitor.store.lock import StoreLocked

    logs.configure("info", "text")
    set_umask()
    try:
        return asyncio.run(
            run_demo(Path(args.data_dir), args.seconds, speed=args.speed, keep_data=args.keep_data)
        )
    except DemoDirError as exc:
        print(f"coldwatch: the demo did not start: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except StoreLocked as exc:
        print(f"coldwatch: the demo did not start: {exc}", file=sys.stderr)
        return EXIT_FAILED


# --- parser ------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="coldwatch",
        description="Monitoring and alarming for cold-chain equipment (freezers, LN2 dewars, "
        "incubators) with GMP records.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = with_config(
        sub.add_parser(
            "run",
            help="run the monitoring daemon",
            description="Run the daemon: poll every device, store readings, until SIGTERM/SIGINT. "
            "Logs go to stderr, as JSON lines (one object per line, for journald and log "
            "shippers) unless the configuration sets logging.format: text, then as plain text "
            "lines; `coldwatch demo` always logs plain text.",
        )
    )
    p.add_argument(
        "--log-level",
        choices=["debug", "info", "warning", "error"],
        help="override logging.level from the configuration",
    )
    p.add_argument(
        "--supervised",
        action="store_true",
        help="a supervisor starts it again (systemd Restart=always): after `coldwatch restart` "
        "exit 0 instead of running again; after `coldwatch stop` exit 3 (the unit's "
        "RestartPreventExitStatus=3)",
    )
    p.set_defaults(func=cmd_run)

    p = with_config(
        sub.add_parser(
            "check-config",
            help="validate a configuration",
            description="Validate the configuration. Prints 'ok' and exits 0, or prints every "
            "error (file:line: path: object: message) and exits 2.",
        )
    )
    p.add_argument("-v", "--verbose", action="store_true", help="also print a summary")
    p.add_argument(
        "--without-secrets",
        action="store_true",
        help="do not read secrets from environment variables or files (check everything else, "
        "e.g. in CI or before the secrets are installed)",
    )
    p.add_argument(
        "--explain",
        metavar="UNIT",
        help="print the rules in force for one unit (e.g. freezer-07): each limit's value and "
        "priority, the delays, deadband and SOP text, and where each comes from (the unit's "
        "rules, a site template, a built-in template); reads no secret",
    )
    p.set_defaults(func=cmd_check_config)

    p = with_config(
        sub.add_parser(
            "verify",
            help="verify the hash chains of the records",
            description="Recompute the hash chain of the stored records and of the logs beside "
            "them (notifications, escalation, PIN lockouts, the audit trail). Exits 0 when all are "
            "intact, 1 naming the first altered or missing batch or row.",
        )
    )
    p.set_defaults(func=cmd_verify)

    p = with_config(
        sub.add_parser(
            "readings",
            help="print stored readings of one channel",
            description="Print stored readings of one channel, oldest first. Times are ISO 8601; "
            "a time without a zone is taken as UTC.",
        )
    )
    p.add_argument("--channel", required=True, metavar="ID", help="e.g. freezer-07.cabinet_temp")
    p.add_argument("--from", dest="start", type=parse_time, metavar="T", help="first time (incl.)")
    p.add_argument("--to", dest="end", type=parse_time, metavar="T", help="last time (excl.)")
    p.add_argument("--limit", type=int, help="at most this many rows")
    p.add_argument("--format", choices=["csv", "json"], default="csv")
    p.set_defaults(func=cmd_readings)

    p = with_config(
        sub.add_parser(
            "status",
            help="show each device's last poll, quality and comm state",
            description="Show each device's communication state, its last poll and the quality of "
            "its channels' latest readings, from the store.",
        )
    )
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.add_argument(
        "--overview",
        action="store_true",
        help="only the site overview (units by state, alarms, devices down, completeness), "
        "as the console's /overview page shows it",
    )
    p.set_defaults(func=cmd_status)

    add_alarm_parsers(sub)
    add_daemon_parsers(sub)
    add_reload_parser(sub)
    add_rollup_parser(sub)
    add_audit_parser(sub)
    add_user_parsers(sub)

    p = sub.add_parser(
        "demo",
        help="run a simulated facility read by coldwatch",
        description="Start simulated equipment (a -80 C freezer over Modbus TCP, another "
        "pushing serial frames, an LN2 dewar answering serial commands, CO2 incubators over "
        "Modbus RTU and MQTT, a controlled-rate freezer over Modbus ASCII) and the coldwatch "
        "daemon reading them into the embedded store in --data-dir, until Ctrl-C or for "
        "--for seconds. Prints how to inject faults, list and acknowledge alarms and where "
        "pages go, then shows every channel's value, quality, alarm and age: a table redrawn "
        "in place on a terminal, one line every 10 s otherwise; and the table once more at "
        "the end.",
    )
    p.add_argument(
        "--data-dir",
        default="./data/demo",
        metavar="DIR",
        help="where the demo keeps its configurations, store, pages and serial links; "
        "emptied at each start (it must hold nothing but what the demo makes there)",
    )
    p.add_argument(
        "--keep-data",
        action="store_true",
        help="keep what --data-dir holds from the last run (its store, alarms and pages)",
    )
    p.add_argument(
        "--for",
        dest="seconds",
        type=float,
        metavar="SECONDS",
        help="stop by itself after this long",
    )
    p.add_argument(
        "--speed",
        type=float,
        metavar="N",
        help="simulated seconds per real second (default 60: an hour per minute)",
    )
    p.set_defaults(func=cmd_demo)

    from simulators.cli import add_parser as add_sim_parser

    add_sim_parser(sub)
    document_exit_codes(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return run_printing(args)


if __name__ == "__main__":
    raise SystemExit(main())
